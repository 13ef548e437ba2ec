#!/bin/bash
# Compares two builds of tshv by booting the default guest to poweroff with both at the same time,
# each pinned to one core (swapped every round), so that both see the same machine: sequential
# runs here vary by 10-20 % within minutes, while the difference of such a pair is stable to a
# few tenths of a second. Prints, per round, wall time, main-thread CPU and total CPU of each.
#
#   bench/ab-pinned.sh ROUNDS "DIST_A [--node-flag ...] [ENV=value ...]" "DIST_B [...]"
#   e.g. bench/ab-pinned.sh 6 ".build-base" ".build-lead TSHV_WASM_THRESHOLD=40"
#
# DIST is a tsc output directory (npx tsc -p . --outDir DIST). Needs taskset (util-linux).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=$1; A=$2; B=$3
split() { local d="" f="" e=""; for w in $1; do if [ -z "$d" ]; then d=$w; elif [[ $w == --* ]]; then f="$f $w"; else e="$e $w"; fi; done; echo "$d|$f|$e"; }
IFS='|' read -r da fa ea <<< "$(split "$A")"
IFS='|' read -r db fb eb <<< "$(split "$B")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then ca=0; cb=1; else ca=1; cb=0; fi
  # shellcheck disable=SC2086
  ( echo poweroff | env $ea taskset -c $ca node $fa --import "$here/main-thread-cpu.mjs" "$da/bin/tshv.js" run 2>&1 >/dev/null | grep MAINTHR > "$out/a" || true ) &
  # shellcheck disable=SC2086
  ( echo poweroff | env $eb taskset -c $cb node $fb --import "$here/main-thread-cpu.mjs" "$db/bin/tshv.js" run 2>&1 >/dev/null | grep MAINTHR > "$out/b" || true ) &
  wait
  echo "$(cat "$out/a") | $(cat "$out/b")" | awk '{printf "A wall %s main %s total %s | B wall %s main %s total %s | dWall %+.2f dMain %+.2f dTotal %+.2f\n", $6,$2,$4,$13,$9,$11,$13-$6,$9-$2,$11-$4}'
done | tee "$out/log"
awk '{a+=$(NF-4); b+=$(NF-2); c+=$NF} END {printf "mean B-A: wall %+.2f s, main thread %+.2f s, total CPU %+.2f s\n", a/NR, b/NR, c/NR}' "$out/log"
