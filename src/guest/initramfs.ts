// Lays out the default guest's initramfs: busybox and its applet links, the init scripts, the
// console node, and the kernel modules with a modules.dep for busybox modprobe.

import { execFileSync } from 'node:child_process';
import { CpioWriter } from './cpio.js';
import {
  GUEST_HOSTNAME,
  GUEST_MODULE_LIST_PATH,
  groupText,
  inittabText,
  passwdText,
  profileText,
  rcKText,
  rcSText,
} from './init-script.js';
import { readModuleFile, type KernelModule } from './kernel-modules.js';

/** Bump when the layout below changes (not the scripts: those are hashed), so caches rebuild. */
export const INITRAMFS_LAYOUT_VERSION = 3;

/** Linux's /dev/console is char 5:1 (Documentation/admin-guide/devices.txt). */
const CONSOLE_MAJOR = 5;
const CONSOLE_MINOR = 1;
/** /dev/null, 1:3, so early scripts can redirect before devtmpfs is mounted. */
const NULL_MAJOR = 1;
const NULL_MINOR = 3;

/** Applets the guest cannot do without, for when the busybox binary cannot run on this host. */
const ESSENTIAL_APPLETS = [
  'bin/sh', 'bin/mount', 'bin/umount', 'bin/mkdir', 'bin/ln', 'bin/hostname', 'bin/sed', 'bin/cat',
  'bin/echo', 'bin/sync', 'bin/ls', 'bin/cttyhack', 'sbin/init', 'sbin/insmod', 'sbin/poweroff',
  'sbin/reboot', 'sbin/halt',
];

/**
 * The applet paths busybox installs (`busybox --list-full`, e.g. "usr/bin/awk"). Runs the guest's
 * busybox on the host: fine on an x86-64 Linux host; elsewhere the guest's rcS runs
 * `busybox --install -s` at boot and the essential links are enough to get there.
 */
export function listBusyboxApplets(busyboxPath: string): string[] {
  try {
    const out = execFileSync(busyboxPath, ['--list-full'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const paths = out.split('\n').map((l) => l.trim()).filter((l) => l.includes('/'));
    if (paths.length > 0) return paths;
  } catch {
    // fall through: not runnable here
  }
  return [...ESSENTIAL_APPLETS];
}

export interface InitramfsSpec {
  kernelRelease: string;
  busybox: Uint8Array;
  /** Applet paths from listBusyboxApplets. */
  applets: readonly string[];
  /** Modules in load order (dependencies first). */
  modules: readonly KernelModule[];
  /** Each module's direct dependencies, for modules.dep. */
  dependsOf: (name: string) => readonly string[];
}

/** Path of a module inside the initramfs: always uncompressed ".ko" (see readModuleFile). */
export function guestModulePath(module: KernelModule): string {
  return module.relPath.replace(/\.ko(\.(xz|zst|gz))?$/, '.ko');
}

/** Builds the (uncompressed) cpio archive. */
export function buildInitramfs(spec: InitramfsSpec): Buffer {
  const cpio = new CpioWriter();
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc/init.d', 'etc/tshv', 'proc', 'sys', 'tmp', 'run', 'mnt', 'root']) {
    cpio.addDirectories(dir);
  }
  cpio.addDirectory('dev');
  cpio.addCharDevice('dev/console', CONSOLE_MAJOR, CONSOLE_MINOR, { mode: 0o600 });
  cpio.addCharDevice('dev/null', NULL_MAJOR, NULL_MINOR, { mode: 0o666 });

  cpio.addFile('bin/busybox', spec.busybox, { mode: 0o755 });
  for (const applet of spec.applets) {
    if (applet === 'bin/busybox' || cpio.has(applet)) continue;
    const slash = applet.lastIndexOf('/');
    cpio.addDirectories(applet.slice(0, slash));
    cpio.addSymlink(applet, '/bin/busybox');
  }
  // The kernel runs /init from an initramfs; busybox picks its applet from argv[0] ("init").
  cpio.addSymlink('init', '/bin/busybox');
  if (!cpio.has('sbin/init')) cpio.addSymlink('sbin/init', '/bin/busybox');

  cpio.addFile('etc/inittab', inittabText());
  cpio.addFile('etc/init.d/rcS', rcSText(spec.kernelRelease), { mode: 0o755 });
  cpio.addFile('etc/init.d/rcK', rcKText(), { mode: 0o755 });
  cpio.addFile('etc/profile', profileText());
  cpio.addFile('etc/passwd', passwdText());
  cpio.addFile('etc/group', groupText());
  cpio.addFile('etc/hostname', `${GUEST_HOSTNAME}\n`);

  const moduleRoot = `lib/modules/${spec.kernelRelease}`;
  cpio.addDirectories(moduleRoot);
  const byName = new Map(spec.modules.map((m) => [m.name, m]));
  const depLines: string[] = [];
  for (const module of spec.modules) {
    const rel = guestModulePath(module);
    cpio.addDirectories(`${moduleRoot}/${rel.slice(0, rel.lastIndexOf('/'))}`);
    cpio.addFile(`${moduleRoot}/${rel}`, readModuleFile(module.hostPath));
    // modules.dep (depmod(8)): "module: deps..." with every dependency, direct or not. modprobe
    // loads the list from its end, so it is the load order reversed.
    const closure = new Set<string>();
    const walk = (name: string): void => {
      for (const dep of spec.dependsOf(name)) {
        if (!byName.has(dep) || closure.has(dep)) continue;
        closure.add(dep);
        walk(dep);
      }
    };
    walk(module.name);
    const deps = spec.modules.filter((m) => closure.has(m.name)).reverse().map(guestModulePath);
    depLines.push(`${rel}:${deps.map((d) => ` ${d}`).join('')}`);
  }
  cpio.addFile(`${moduleRoot}/modules.dep`, depLines.map((l) => `${l}\n`).join(''));
  cpio.addFile(GUEST_MODULE_LIST_PATH, spec.modules.map((m) => `${guestModulePath(m)}\n`).join(''));
  return cpio.finish();
}
