// The default guest: a Debian 12 kernel and a busybox initramfs, built from Debian's own packages
// and cached under $TSHV_HOME/guest/<flavour>-<kernel release>/:
//   vmlinuz        the package's bzImage, as shipped
//   initrd.img     uncompressed cpio: busybox, init scripts, the virtio modules and their dependencies
//   manifest.json  sha256 and size of both, package names and versions, module list
// A cached build is used as long as both files match the manifest; otherwise it is rebuilt
// (downloads ~30 MB for the cloud kernel, ~70 MB for the generic one).

import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TshvError, errorMessage } from '../common/errors.js';
import {
  aptUpdateOnce,
  downloadPackage,
  resolveKernelPackage,
  showPackage,
  unpackDeb,
  type PackageInfo,
} from './debian-packages.js';
import { INITRAMFS_LAYOUT_VERSION, buildInitramfs, guestModulePath, listBusyboxApplets } from './initramfs.js';
import { groupText, inittabText, passwdText, profileText, rcKText, rcSText } from './init-script.js';
import { KernelModuleTree } from './kernel-modules.js';

export type GuestFlavour = 'cloud' | 'generic';

/** The Debian metapackage that names each flavour's current kernel package. */
export const GUEST_KERNEL_METAPACKAGES: Readonly<Record<GuestFlavour, string>> = {
  cloud: 'linux-image-cloud-amd64',
  generic: 'linux-image-amd64',
};
export const GUEST_BUSYBOX_PACKAGE = 'busybox-static';

/**
 * Modules the initramfs carries and loads (plus their dependencies, found from .modinfo).
 * Debian 12 builds all of virtio as modules; serial 8250 and ext4 are built in. Changing this list
 * changes guestRecipeHash(), so a cached guest is rebuilt.
 */
export const DEFAULT_GUEST_MODULES: readonly string[] = [
  'virtio_pci',
  'virtio_blk',
  'virtio_net',
  'virtio_console',
  'virtio_rng',
  'virtio_balloon',
  // The ACPI power button (CONFIG_ACPI_BUTTON=m) reports KEY_POWER through the input layer, and
  // evdev (CONFIG_INPUT_EVDEV=m) gives busybox acpid its /dev/input/event* (init-script.ts rcS).
  'button',
  'evdev',
];

export const GUEST_KERNEL_FILE = 'vmlinuz';
export const GUEST_INITRD_FILE = 'initrd.img';
export const GUEST_MANIFEST_FILE = 'manifest.json';
const MANIFEST_FORMAT_VERSION = 1;

/**
 * A digest of what this code puts into the initramfs besides the packages (scripts, module
 * list, layout version): a cached build made by an older tshv with other scripts is rebuilt.
 */
export function guestRecipeHash(): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        MANIFEST_FORMAT_VERSION,
        INITRAMFS_LAYOUT_VERSION,
        DEFAULT_GUEST_MODULES,
        inittabText(),
        rcSText('@RELEASE@'),
        rcKText(),
        profileText(),
        passwdText(),
        groupText(),
      ]),
    )
    .digest('hex')
    .slice(0, 16);
}

/** Linux boot protocol: the setup header's "HdrS" magic at 0x202 (Documentation/x86/boot.rst). */
const BZIMAGE_HEADER_MAGIC_OFFSET = 0x202;
const BZIMAGE_HEADER_MAGIC = 'HdrS';

const LOCK_POLL_MS = 500;
const LOCK_WAIT_LIMIT_MS = 15 * 60 * 1000;

export interface GuestFileRecord {
  file: string;
  sha256: string;
  sizeBytes: number;
}

export interface GuestManifest {
  formatVersion: number;
  /** guestRecipeHash() of the tshv that built it. */
  recipeHash: string;
  flavour: GuestFlavour;
  kernelRelease: string;
  kernelPackage: { name: string; version: string };
  busyboxPackage: { name: string; version: string };
  kernel: GuestFileRecord;
  initrd: GuestFileRecord;
  /** Modules in load order, paths relative to /lib/modules/<release>/. */
  modules: string[];
  /** Wanted modules that the kernel has neither built in nor as a file. */
  missingModules: string[];
  builtAt: string;
}

export interface EnsureGuestOptions {
  /** Data directory; default $TSHV_HOME, else $XDG_DATA_HOME/tshv, else ~/.local/share/tshv. */
  home?: string;
  flavour?: GuestFlavour;
  /** Rebuild even when a valid build exists (and pick up a newer kernel package). */
  force?: boolean;
  /** Progress lines; default: written to stderr. */
  onProgress?: (line: string) => void;
}

export interface GuestImage {
  flavour: GuestFlavour;
  /** e.g. 6.1.0-28-cloud-amd64 */
  version: string;
  kernelPath: string;
  initrdPath: string;
  dir: string;
  manifest: GuestManifest;
  /** True when this call built the guest, false when it reused a cached build. */
  built: boolean;
}

/** The tshv data directory. */
export function tshvHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env['TSHV_HOME']) return env['TSHV_HOME'];
  if (env['XDG_DATA_HOME']) return join(env['XDG_DATA_HOME'], 'tshv');
  return join(homedir(), '.local', 'share', 'tshv');
}

export function isGuestFlavour(value: string): value is GuestFlavour {
  return Object.hasOwn(GUEST_KERNEL_METAPACKAGES, value);
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function fileRecord(dir: string, file: string): GuestFileRecord {
  const path = join(dir, file);
  return { file, sha256: sha256File(path), sizeBytes: statSync(path).size };
}

/** True when `data` starts like a bzImage (boot protocol setup header present). */
export function isBzImage(data: Uint8Array): boolean {
  const end = BZIMAGE_HEADER_MAGIC_OFFSET + BZIMAGE_HEADER_MAGIC.length;
  return data.length >= end && Buffer.from(data.subarray(BZIMAGE_HEADER_MAGIC_OFFSET, end)).toString('latin1') === BZIMAGE_HEADER_MAGIC;
}

/** Reads a build directory's manifest and checks both files against it; undefined if anything is off. */
export function validateGuestDir(dir: string): GuestManifest | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, GUEST_MANIFEST_FILE), 'utf8')) as GuestManifest;
    if (manifest.formatVersion !== MANIFEST_FORMAT_VERSION || manifest.recipeHash !== guestRecipeHash()) return undefined;
    for (const record of [manifest.kernel, manifest.initrd]) {
      const path = join(dir, record.file);
      if (!existsSync(path) || statSync(path).size !== record.sizeBytes) return undefined;
      if (sha256File(path) !== record.sha256) return undefined;
    }
    return manifest;
  } catch {
    return undefined;
  }
}

function guestRoot(home: string): string {
  return join(home, 'guest');
}

/** The newest valid cached build of a flavour. */
export function findCachedGuest(home: string, flavour: GuestFlavour): GuestImage | undefined {
  const root = guestRoot(home);
  if (!existsSync(root)) return undefined;
  let best: GuestImage | undefined;
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith(`${flavour}-`) || entry.name.includes('.tmp-')) continue;
    const dir = join(root, entry.name);
    const manifest = validateGuestDir(dir);
    if (!manifest || manifest.flavour !== flavour) continue;
    if (best && best.manifest.builtAt >= manifest.builtAt) continue;
    best = imageOf(dir, manifest, false);
  }
  return best;
}

function imageOf(dir: string, manifest: GuestManifest, built: boolean): GuestImage {
  return {
    flavour: manifest.flavour,
    version: manifest.kernelRelease,
    kernelPath: join(dir, manifest.kernel.file),
    initrdPath: join(dir, manifest.initrd.file),
    dir,
    manifest,
    built,
  };
}

function defaultProgress(line: string): void {
  process.stderr.write(`${line}\n`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the per-flavour build lock (an O_EXCL file holding our pid), so two tshv processes (or
 * two test files) do not build the same guest at once. A lock whose process is gone is taken over.
 */
async function acquireLock(lockPath: string, onProgress: (line: string) => void): Promise<() => void> {
  const started = Date.now();
  let told = false;
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = NaN;
    try {
      holder = parseInt(readFileSync(lockPath, 'utf8'), 10);
    } catch {
      continue; // released between our open and read
    }
    if (!Number.isInteger(holder) || !processAlive(holder) || holder === process.pid) {
      // A dead holder (or a half-written lock, or our own from an earlier crash): take it over.
      rmSync(lockPath, { force: true });
      continue;
    }
    if (!told) {
      onProgress(`Waiting for another tshv process (pid ${holder}) building the guest...`);
      told = true;
    }
    if (Date.now() - started > LOCK_WAIT_LIMIT_MS) {
      throw new TshvError(`Cannot build the guest: ${lockPath} is held by pid ${holder} for too long`);
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
}

/**
 * Returns the default guest of a flavour, building it when no valid build is cached.
 * Errors are TshvError with one line (apt-get missing, package not found, download failed).
 */
export async function ensureDefaultGuest(options: EnsureGuestOptions = {}): Promise<GuestImage> {
  const home = options.home ?? tshvHome();
  const flavour = options.flavour ?? 'cloud';
  if (!isGuestFlavour(flavour)) throw new TshvError(`Unknown guest flavour "${String(flavour)}": use cloud or generic`);
  const onProgress = options.onProgress ?? defaultProgress;

  if (!options.force) {
    const cached = findCachedGuest(home, flavour);
    if (cached) return cached;
  }
  const root = guestRoot(home);
  mkdirSync(root, { recursive: true });
  const release = await acquireLock(join(root, `.build-${flavour}.lock`), onProgress);
  try {
    // Another process may have built it while we waited for the lock.
    if (!options.force) {
      const cached = findCachedGuest(home, flavour);
      if (cached) return cached;
    }
    return await buildGuest(root, flavour, onProgress);
  } finally {
    release();
  }
}

interface FetchedPackages {
  kernelPkg: PackageInfo;
  busyboxPkg: PackageInfo;
  kernelDeb: string;
  busyboxDeb: string;
}

/** Resolves the flavour's kernel package and busybox-static and downloads both into work/debs. */
async function fetchPackages(flavour: GuestFlavour, work: string, onProgress: (line: string) => void): Promise<FetchedPackages> {
  const debs = join(work, 'debs');
  rmSync(debs, { recursive: true, force: true });
  mkdirSync(debs, { recursive: true });
  const kernelPkg = await resolveKernelPackage(GUEST_KERNEL_METAPACKAGES[flavour], onProgress);
  const busyboxPkg = await showPackage(GUEST_BUSYBOX_PACKAGE, onProgress);
  onProgress(`Downloading ${kernelPkg.name} ${kernelPkg.version}...`);
  const kernelDeb = await downloadPackage(kernelPkg.name, debs);
  onProgress(`Downloading ${busyboxPkg.name} ${busyboxPkg.version}...`);
  const busyboxDeb = await downloadPackage(busyboxPkg.name, debs);
  return { kernelPkg, busyboxPkg, kernelDeb, busyboxDeb };
}

async function buildGuest(root: string, flavour: GuestFlavour, onProgress: (line: string) => void): Promise<GuestImage> {
  const work = join(root, `.work-${flavour}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    // Resolve and download; if the download fails with package lists older than the archive (the
    // pool no longer has that version), update the lists once and resolve again.
    let packages: FetchedPackages;
    try {
      packages = await fetchPackages(flavour, work, onProgress);
    } catch (e: unknown) {
      if (!(e instanceof TshvError) || !(await aptUpdateOnce(onProgress))) throw e;
      packages = await fetchPackages(flavour, work, onProgress);
    }
    const { kernelPkg, busyboxPkg, kernelDeb, busyboxDeb } = packages;

    onProgress(`Unpacking ${kernelPkg.name}...`);
    const tree = join(work, 'root');
    mkdirSync(tree);
    await unpackDeb(kernelDeb, tree);
    await unpackDeb(busyboxDeb, tree);
    rmSync(join(work, 'debs'), { recursive: true, force: true });

    const bootDir = join(tree, 'boot');
    const vmlinuz = existsSync(bootDir) ? readdirSync(bootDir).find((f) => f.startsWith('vmlinuz-')) : undefined;
    if (vmlinuz === undefined) throw new TshvError(`Cannot build the guest: ${kernelPkg.name} has no /boot/vmlinuz-*`);
    const kernelRelease = vmlinuz.slice('vmlinuz-'.length);
    const kernelSrc = join(bootDir, vmlinuz);
    if (!isBzImage(readFileSync(kernelSrc))) {
      throw new TshvError(`Cannot build the guest: ${kernelSrc} is not a bzImage (no "HdrS" at 0x202)`);
    }
    const busyboxPath = join(tree, 'bin', 'busybox');
    if (!existsSync(busyboxPath)) throw new TshvError(`Cannot build the guest: ${busyboxPkg.name} has no /bin/busybox`);

    onProgress(`Building initramfs for ${kernelRelease}...`);
    const modulesTree = new KernelModuleTree(join(tree, 'lib', 'modules', kernelRelease));
    const { modules, missing } = modulesTree.resolve(DEFAULT_GUEST_MODULES);
    if (missing.length > 0) onProgress(`Note: ${kernelRelease} has no module ${missing.join(', ')}; left out`);
    const archive = buildInitramfs({
      kernelRelease,
      busybox: readFileSync(busyboxPath),
      applets: listBusyboxApplets(busyboxPath),
      modules,
      dependsOf: (name) => modulesTree.dependsOf(name),
    });

    // Write everything into a temporary directory, then rename it into place, so a crash never
    // leaves a directory that looks finished.
    const finalDir = join(root, `${flavour}-${kernelRelease}`);
    const tmpDir = `${finalDir}.tmp-${process.pid}`;
    rmSync(tmpDir, { recursive: true, force: true });
    mkdirSync(tmpDir);
    copyFileSync(kernelSrc, join(tmpDir, GUEST_KERNEL_FILE));
    // Uncompressed: the archive is ~2.7 MiB, and inflating the gzip'd one cost the guest ~50 M
    // instructions (3% of the soft engine's boot) to save ~1.5 MiB of host disk.
    writeFileSync(join(tmpDir, GUEST_INITRD_FILE), archive);
    const manifest: GuestManifest = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      recipeHash: guestRecipeHash(),
      flavour,
      kernelRelease,
      kernelPackage: { name: kernelPkg.name, version: kernelPkg.version },
      busyboxPackage: { name: busyboxPkg.name, version: busyboxPkg.version },
      kernel: fileRecord(tmpDir, GUEST_KERNEL_FILE),
      initrd: fileRecord(tmpDir, GUEST_INITRD_FILE),
      modules: modules.map(guestModulePath),
      missingModules: missing,
      builtAt: new Date().toISOString(),
    };
    writeFileSync(join(tmpDir, GUEST_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    rmSync(finalDir, { recursive: true, force: true });
    renameSync(tmpDir, finalDir);

    // Older builds of this flavour (an earlier kernel release) are superseded.
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name.startsWith(`${flavour}-`) && entry.name !== `${flavour}-${kernelRelease}`) {
        rmSync(join(root, entry.name), { recursive: true, force: true });
      }
    }
    onProgress(`Guest ready: ${finalDir}`);
    return imageOf(finalDir, manifest, true);
  } catch (e: unknown) {
    if (e instanceof TshvError) throw e;
    throw new TshvError(`Cannot build the guest: ${errorMessage(e)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
