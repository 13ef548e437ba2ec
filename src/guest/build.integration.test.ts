// Integration: builds the real default guests from Debian's packages (downloads ~30 MB for the
// cloud kernel and ~70 MB for the generic one, once: later runs reuse the build cached under the
// default data directory, $TSHV_HOME or ~/.local/share/tshv).

import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  GUEST_MANIFEST_FILE,
  ensureDefaultGuest,
  findCachedGuest,
  guestRecipeHash,
  isBzImage,
  tshvHome,
  validateGuestDir,
  type GuestFlavour,
} from './build.js';
import { readCpio } from './cpio-reader.js';
import { S_IFCHR, S_IFMT } from './cpio.js';
import { readModinfo } from './kernel-modules.js';

const BUILD_TIMEOUT_MS = 10 * 60 * 1000;

/** Building needs Debian's tools; a host without them can still check a guest built before. */
function skipReason(flavour: GuestFlavour): string | undefined {
  const tools = existsSync('/usr/bin/apt-get') && existsSync('/usr/bin/dpkg-deb');
  return tools || findCachedGuest(tshvHome(), flavour) ? undefined : 'apt-get/dpkg-deb missing and no guest built before';
}

function checkGuest(kernelPath: string, initrdPath: string, release: string): void {
  assert.ok(isBzImage(readFileSync(kernelPath)), 'kernel has "HdrS" at 0x202');
  const initrd = readFileSync(initrdPath);
  // Uncompressed "newc" cpio (build.ts says why).
  assert.equal(initrd.subarray(0, 6).toString('latin1'), '070701', 'initrd is an uncompressed newc cpio');
  const entries = readCpio(initrd);
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const name of ['init', 'sbin/init', 'bin/busybox', 'bin/sh', 'sbin/poweroff', 'sbin/reboot', 'bin/cttyhack', 'etc/inittab', 'etc/init.d/rcS']) {
    assert.ok(byName.has(name), `initrd has /${name}`);
  }
  const console_ = byName.get('dev/console');
  assert.equal((console_?.mode ?? 0) & S_IFMT, S_IFCHR);
  assert.deepEqual([console_?.rdevMajor, console_?.rdevMinor], [5, 1]);
  assert.equal(byName.get('init')?.data.toString(), '/bin/busybox');

  const moddir = `lib/modules/${release}`;
  const listed = byName.get('etc/tshv/modules')?.data.toString().trim().split('\n') ?? [];
  const names = listed.map((p) => (p.split('/').pop() ?? '').replace(/\.ko$/, '').replace(/-/g, '_'));
  for (const wanted of ['virtio_ring', 'virtio', 'virtio_pci', 'virtio_blk', 'virtio_net', 'failover', 'net_failover', 'virtio_console', 'virtio_rng', 'virtio_balloon']) {
    assert.ok(names.includes(wanted), `${wanted} is loaded`);
  }
  // Each module is in the archive, as a plain ELF, after every module it depends on.
  for (const [i, path] of listed.entries()) {
    const module = byName.get(`${moddir}/${path}`);
    assert.ok(module, `${path} is in the initrd`);
    const depends = (readModinfo(module.data).get('depends')?.[0] ?? '').split(',').filter((d) => d !== '');
    for (const dep of depends) {
      const at = names.indexOf(dep.replace(/-/g, '_'));
      assert.ok(at >= 0 && at < i, `${dep} is loaded before ${path}`);
    }
  }
  assert.ok(byName.get(`${moddir}/modules.dep`)?.data.toString().includes('kernel/drivers/net/virtio_net.ko: '));
  assert.ok(initrd.length < 4 * 1024 * 1024, `initrd is small (${initrd.length} bytes)`);
}

for (const flavour of ['cloud', 'generic'] as GuestFlavour[]) {
  const skip = skipReason(flavour);
  void describe(`default guest (${flavour})`, { timeout: BUILD_TIMEOUT_MS, ...(skip === undefined ? {} : { skip }) }, () => {
    void it('builds (or reuses) the kernel and initramfs under the data directory', async (t) => {
      const progress: string[] = [];
      const guest = await ensureDefaultGuest({ flavour, onProgress: (line) => progress.push(line) });
      t.diagnostic(`${guest.built ? 'built' : 'reused'} ${guest.dir}; ${progress.join(' | ')}`);
      assert.equal(guest.dir, join(tshvHome(), 'guest', `${flavour}-${guest.version}`));
      assert.match(guest.version, flavour === 'cloud' ? /^6\.\d+\.\d+-\d+-cloud-amd64$/ : /^6\.\d+\.\d+-\d+-amd64$/);
      assert.equal(guest.manifest.kernelPackage.name, `linux-image-${guest.version}`);
      assert.equal(guest.manifest.recipeHash, guestRecipeHash());
      if (guest.built) assert.ok(progress.some((l) => l.startsWith(`Downloading linux-image-${guest.version}`)));
      checkGuest(guest.kernelPath, guest.initrdPath, guest.version);
    });

    void it('does not rebuild a valid guest', async () => {
      const first = await ensureDefaultGuest({ flavour, onProgress: () => {} });
      const mtimes = [statSync(first.kernelPath).mtimeMs, statSync(first.initrdPath).mtimeMs];
      const progress: string[] = [];
      const second = await ensureDefaultGuest({ flavour, onProgress: (line) => progress.push(line) });
      assert.equal(second.built, false);
      assert.deepEqual(progress, []);
      assert.equal(second.kernelPath, first.kernelPath);
      assert.deepEqual([statSync(second.kernelPath).mtimeMs, statSync(second.initrdPath).mtimeMs], mtimes);
    });
  });
}

void describe('guest cache validation', { timeout: BUILD_TIMEOUT_MS, ...(skipReason('cloud') === undefined ? {} : { skip: true }) }, () => {
  void it('rejects a build whose files or scripts no longer match its manifest', async () => {
    const guest = await ensureDefaultGuest({ onProgress: () => {} });
    const home = mkdtempSync(join(tmpdir(), 'tshv-home-'));
    try {
      const dir = join(home, 'guest', `cloud-${guest.version}`);
      cpSync(guest.dir, dir, { recursive: true });
      assert.equal(findCachedGuest(home, 'cloud')?.dir, dir, 'an intact copy is valid');
      assert.equal(findCachedGuest(home, 'generic'), undefined);

      const initrd = readFileSync(join(dir, 'initrd.img'));
      initrd[initrd.length - 100] = (initrd[initrd.length - 100] ?? 0) ^ 0xff; // same size, other bytes
      writeFileSync(join(dir, 'initrd.img'), initrd);
      assert.equal(validateGuestDir(dir), undefined, 'a damaged initrd is invalid');

      cpSync(guest.dir, dir, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(dir, GUEST_MANIFEST_FILE), 'utf8')) as { recipeHash: string };
      manifest.recipeHash = 'older-scripts';
      writeFileSync(join(dir, GUEST_MANIFEST_FILE), JSON.stringify(manifest));
      assert.equal(validateGuestDir(dir), undefined, 'a build from other scripts is invalid');

      rmSync(join(dir, 'vmlinuz'));
      assert.equal(findCachedGuest(home, 'cloud'), undefined, 'a missing kernel is invalid');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
