#!/usr/bin/env bash
# Host packages the test suite and the default guest need (Debian 12). Idempotent and quiet when
# everything is there. apt-get needs root; without it we say what is missing and go on.
set -uo pipefail
need=()
command -v iasl >/dev/null 2>&1 || need+=(acpica-tools)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "tshv: installing host packages: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq "${need[@]}" >&2 || echo "tshv: could not install ${need[*]}" >&2
  else
    echo "tshv: missing host packages (install as root): ${need[*]}" >&2
  fi
fi
# apt-get download needs package lists.
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >&2 || true
fi
exit 0
