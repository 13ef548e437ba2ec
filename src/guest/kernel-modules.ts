// Finds the kernel modules the guest needs in an unpacked Debian kernel package and orders them
// so each one comes after the modules it depends on.
//
// Debian's linux-image packages ship no modules.dep (the package's postinst runs depmod), so the
// dependencies come from each module's own `.modinfo` ELF section: the `depends=a,b` string that
// modpost writes (and that depmod itself reads). modules.builtin lists what is built into the
// kernel: such a module needs no file and is skipped.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TshvError } from '../common/errors.js';

// ELF64 header and section header offsets (System V ABI, "ELF Header" / "Sections").
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const E_SHOFF = 0x28;
const E_SHENTSIZE = 0x3a;
const E_SHNUM = 0x3c;
const E_SHSTRNDX = 0x3e;
const SH_NAME = 0x00;
const SH_OFFSET = 0x18;
const SH_SIZE = 0x20;

/** Module names treat '-' and '_' alike (the kernel's KBUILD_MODNAME uses '_'). */
export function normalizeModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

/** Module file suffixes Debian kernels may use (CONFIG_MODULE_COMPRESS_*). */
const MODULE_SUFFIXES = ['.ko', '.ko.xz', '.ko.zst', '.ko.gz'] as const;

/** Strips a module suffix from a file name; undefined for other files. */
function moduleNameOfFile(fileName: string): string | undefined {
  for (const suffix of MODULE_SUFFIXES) {
    if (fileName.endsWith(suffix)) return normalizeModuleName(fileName.slice(0, -suffix.length));
  }
  return undefined;
}

/** Reads the key=value strings of an ELF64 little-endian object's `.modinfo` section. */
export function readModinfo(elf: Uint8Array): Map<string, string[]> {
  const buf = Buffer.from(elf.buffer, elf.byteOffset, elf.byteLength);
  if (buf.length < 0x40 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== ELFCLASS64 || buf[5] !== ELFDATA2LSB) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(buf.readBigUInt64LE(E_SHOFF));
  const shentsize = buf.readUInt16LE(E_SHENTSIZE);
  const shnum = buf.readUInt16LE(E_SHNUM);
  const shstrndx = buf.readUInt16LE(E_SHSTRNDX);
  if (shentsize < 0x40 || shoff + shnum * shentsize > buf.length || shstrndx >= shnum) {
    throw new Error('bad ELF section header table');
  }
  const section = (i: number): { nameOff: number; offset: number; size: number } => {
    const base = shoff + i * shentsize;
    return {
      nameOff: buf.readUInt32LE(base + SH_NAME),
      offset: Number(buf.readBigUInt64LE(base + SH_OFFSET)),
      size: Number(buf.readBigUInt64LE(base + SH_SIZE)),
    };
  };
  const strtab = section(shstrndx);
  const info = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const sh = section(i);
    const nameStart = strtab.offset + sh.nameOff;
    const nameEnd = buf.indexOf(0, nameStart);
    if (nameEnd < 0 || buf.toString('latin1', nameStart, nameEnd) !== '.modinfo') continue;
    if (sh.offset + sh.size > buf.length) throw new Error('bad .modinfo section bounds');
    for (const item of buf.toString('latin1', sh.offset, sh.offset + sh.size).split('\0')) {
      const eq = item.indexOf('=');
      if (eq <= 0) continue;
      const key = item.slice(0, eq);
      const list = info.get(key);
      if (list) list.push(item.slice(eq + 1));
      else info.set(key, [item.slice(eq + 1)]);
    }
    return info;
  }
  return info;
}

/** Returns the uncompressed bytes of a module file (.ko, .ko.xz, .ko.zst, .ko.gz). */
export function readModuleFile(path: string): Buffer {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.ko.gz')) return gunzipSync(readFileSync(path));
  // xz and zstd have no decoder in node: use the host tools. busybox insmod hands the file to
  // init_module(2), which wants a plain ELF, so the initramfs carries modules uncompressed.
  const tool = path.endsWith('.ko.xz') ? 'xz' : path.endsWith('.ko.zst') ? 'zstd' : undefined;
  if (!tool) throw new Error(`not a kernel module file: ${path}`);
  try {
    return execFileSync(tool, ['-dc', path], { maxBuffer: 256 * 1024 * 1024 });
  } catch (e: unknown) {
    throw new TshvError(`Cannot decompress kernel module ${path}: is "${tool}" installed? (${String(e)})`);
  }
}

export interface KernelModule {
  /** Normalized module name (underscores). */
  name: string;
  /** Path relative to the modules directory, e.g. kernel/drivers/virtio/virtio.ko */
  relPath: string;
  /** Path of the module file on the host. */
  hostPath: string;
}

/** The modules of one kernel release in an unpacked package (lib/modules/<release>). */
export class KernelModuleTree {
  readonly builtin: ReadonlySet<string>;
  private readonly files = new Map<string, string>();
  private readonly dependsCache = new Map<string, string[]>();

  constructor(readonly modulesDir: string) {
    if (!existsSync(modulesDir)) throw new TshvError(`Cannot read kernel modules: ${modulesDir} does not exist`);
    const builtinPath = join(modulesDir, 'modules.builtin');
    const builtin = new Set<string>();
    if (existsSync(builtinPath)) {
      for (const line of readFileSync(builtinPath, 'utf8').split('\n')) {
        const base = line.trim().split('/').pop();
        if (!base) continue;
        const name = moduleNameOfFile(base);
        if (name) builtin.add(name);
      }
    }
    this.builtin = builtin;
    this.scan('');
  }

  /** True when a loadable module of that name exists. */
  hasModule(name: string): boolean {
    return this.files.has(normalizeModuleName(name));
  }

  isBuiltin(name: string): boolean {
    return this.builtin.has(normalizeModuleName(name));
  }

  /** The `depends=` list from a module's .modinfo. */
  dependsOf(name: string): string[] {
    const key = normalizeModuleName(name);
    const cached = this.dependsCache.get(key);
    if (cached) return cached;
    const relPath = this.files.get(key);
    if (relPath === undefined) throw new Error(`no module ${key}`);
    const info = readModinfo(readModuleFile(join(this.modulesDir, relPath)));
    const deps = (info.get('depends') ?? [])
      .flatMap((d) => d.split(','))
      .map((d) => normalizeModuleName(d.trim()))
      .filter((d) => d !== '');
    this.dependsCache.set(key, deps);
    return deps;
  }

  /**
   * The modules to load for `wanted`, dependencies first (a depth-first post-order, so the
   * order of `wanted` is kept where dependencies allow). Built-in modules are left out;
   * names that are neither built in nor present go to `missing`.
   */
  resolve(wanted: readonly string[]): { modules: KernelModule[]; missing: string[] } {
    const modules: KernelModule[] = [];
    const missing: string[] = [];
    const done = new Set<string>();
    const inProgress = new Set<string>();
    const visit = (raw: string, chain: readonly string[]): void => {
      const name = normalizeModuleName(raw);
      if (done.has(name) || this.builtin.has(name)) return;
      if (inProgress.has(name)) {
        throw new TshvError(`Cannot order kernel modules: dependency cycle ${[...chain, name].join(' -> ')}`);
      }
      const relPath = this.files.get(name);
      if (relPath === undefined) {
        if (!missing.includes(name)) missing.push(name);
        return;
      }
      inProgress.add(name);
      for (const dep of this.dependsOf(name)) visit(dep, [...chain, name]);
      inProgress.delete(name);
      done.add(name);
      modules.push({ name, relPath, hostPath: join(this.modulesDir, relPath) });
    };
    for (const name of wanted) visit(name, []);
    return { modules, missing };
  }

  private scan(rel: string): void {
    for (const entry of readdirSync(join(this.modulesDir, rel), { withFileTypes: true })) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        this.scan(childRel);
      } else if (entry.isFile()) {
        const name = moduleNameOfFile(entry.name);
        // The first file of a name wins; a kernel has each module once.
        if (name && !this.files.has(name)) this.files.set(name, childRel);
      }
    }
  }
}
