// Debian packages through the host's own tools: apt-cache to resolve a metapackage to the real
// package behind it, `apt-get download` to fetch a .deb into a directory (no root needed, nothing
// installed), and `dpkg-deb -x` to unpack it.

import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TshvError } from '../common/errors.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs a host tool; a missing tool is a TshvError, a non-zero exit is returned, not thrown. */
export function runTool(file: string, args: readonly string[], cwd?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const options = {
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8' as const,
      // A fixed locale keeps the messages we match on in English.
      env: { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' },
      ...(cwd === undefined ? {} : { cwd }),
    };
    execFile(file, args, options, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new TshvError(`Cannot build the guest: "${file}" is not installed (a Debian-based host is needed)`));
        return;
      }
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ stdout, stderr, exitCode: code });
    });
  });
}

/** The last meaningful line of a tool's error output, for a one-line message. */
function lastErrorLine(result: CommandResult): string {
  const lines = `${result.stderr}\n${result.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('W: Download is performed unsandboxed'));
  const errors = lines.filter((l) => l.startsWith('E: '));
  return (errors[errors.length - 1] ?? lines[lines.length - 1] ?? `exit status ${result.exitCode}`).replace(/^E: /, '');
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** apt options: as root, download as root (apt's "_apt" sandbox user cannot write our dirs). */
function aptOptions(): string[] {
  return isRoot() ? ['-o', 'APT::Sandbox::User=root'] : [];
}

export interface PackageInfo {
  name: string;
  version: string;
  /** The raw Depends field (may be empty). */
  depends: string;
}

/** Parses the first stanza of `apt-cache show` output. */
export function parseAptCacheShow(text: string): PackageInfo | undefined {
  const stanza = text.split(/\n\s*\n/)[0] ?? '';
  const field = (name: string): string | undefined => {
    const m = new RegExp(`^${name}: *(.*)$`, 'm').exec(stanza);
    return m?.[1]?.trim();
  };
  const name = field('Package');
  const version = field('Version');
  if (name === undefined || version === undefined) return undefined;
  return { name, version, depends: field('Depends') ?? '' };
}

/** The package names in a Depends field, in order (alternatives flattened, versions dropped). */
export function parseDependsNames(depends: string): string[] {
  return depends
    .split(/[,|]/)
    .map((d) => d.trim().split(/[\s(:]/)[0] ?? '')
    .filter((d) => d !== '');
}

let aptUpdated = false;

/**
 * `apt-get update`, at most once per process, and only as root (it writes the system lists).
 * Returns false when it did nothing (already done, or not root).
 */
export async function aptUpdateOnce(onProgress: (line: string) => void): Promise<boolean> {
  if (aptUpdated || !isRoot()) return false;
  aptUpdated = true;
  onProgress('Updating the package lists (apt-get update)...');
  const result = await runTool('apt-get', ['update', ...aptOptions()]);
  if (result.exitCode !== 0) {
    throw new TshvError(`Cannot update the package lists: ${lastErrorLine(result)}`);
  }
  return true;
}

/** The candidate version of a package, running `apt-get update` once if apt does not know it. */
export async function showPackage(name: string, onProgress: (line: string) => void): Promise<PackageInfo> {
  for (;;) {
    const result = await runTool('apt-cache', ['show', '--no-all-versions', name]);
    const info = result.exitCode === 0 ? parseAptCacheShow(result.stdout) : undefined;
    if (info) return info;
    if (await aptUpdateOnce(onProgress)) continue;
    const hint = isRoot() ? '' : ' (run "apt-get update" as root?)';
    throw new TshvError(`Cannot find Debian package "${name}": ${lastErrorLine(result)}${hint}`);
  }
}

/**
 * Resolves a metapackage (linux-image-cloud-amd64) to the package it depends on that carries
 * the kernel (linux-image-6.1.0-NN-cloud-amd64).
 */
export async function resolveKernelPackage(metapackage: string, onProgress: (line: string) => void): Promise<PackageInfo> {
  const meta = await showPackage(metapackage, onProgress);
  const real = parseDependsNames(meta.depends).find((d) => /^linux-image-\d/.test(d));
  if (real === undefined) {
    // Already the real package (or a metapackage shape we do not know): use it as it is.
    return meta;
  }
  return showPackage(real, onProgress);
}

/** Downloads a package's .deb into `dir` and returns its path. */
export async function downloadPackage(name: string, dir: string): Promise<string> {
  const result = await runTool('apt-get', ['download', ...aptOptions(), name], dir);
  if (result.exitCode !== 0) {
    throw new TshvError(`Cannot download Debian package "${name}": ${lastErrorLine(result)}`);
  }
  const file = readdirSync(dir).find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
  if (file === undefined) throw new TshvError(`Cannot download Debian package "${name}": apt-get wrote no .deb file`);
  return join(dir, file);
}

/** Unpacks a .deb's files (not its scripts) under `dir`. */
export async function unpackDeb(debPath: string, dir: string): Promise<void> {
  const result = await runTool('dpkg-deb', ['-x', debPath, dir]);
  if (result.exitCode !== 0) throw new TshvError(`Cannot unpack ${debPath}: ${lastErrorLine(result)}`);
}

/** One control field of a .deb (`dpkg-deb -f`). */
export async function debField(debPath: string, field: string): Promise<string> {
  const result = await runTool('dpkg-deb', ['-f', debPath, field]);
  if (result.exitCode !== 0) throw new TshvError(`Cannot read ${field} of ${debPath}: ${lastErrorLine(result)}`);
  return result.stdout.trim();
}
