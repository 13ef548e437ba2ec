import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCpio } from './cpio-reader.js';
import { S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './cpio.js';
import { GUEST_MODULE_LIST_PATH } from './init-script.js';
import { buildInitramfs, listBusyboxApplets } from './initramfs.js';
import { KernelModuleTree } from './kernel-modules.js';
import { fakeModule } from './testing/fake-kernel-module.js';

const RELEASE = '6.1.0-99-cloud-amd64';

void describe('buildInitramfs', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tshv-initramfs-'));
    const put = (rel: string, deps: string): void => {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      writeFileSync(join(dir, rel), fakeModule([`depends=${deps}`]));
    };
    put('kernel/drivers/virtio/virtio_ring.ko', '');
    put('kernel/drivers/virtio/virtio.ko', 'virtio_ring');
    put('kernel/net/core/failover.ko', '');
    put('kernel/drivers/net/net_failover.ko', 'failover');
    put('kernel/drivers/net/virtio_net.ko', 'virtio,net_failover,virtio_ring');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function build(): ReturnType<typeof readCpio> {
    const tree = new KernelModuleTree(dir);
    const { modules } = tree.resolve(['virtio_net']);
    return readCpio(
      buildInitramfs({
        kernelRelease: RELEASE,
        busybox: Buffer.from('not really busybox'),
        applets: ['bin/sh', 'bin/busybox', 'sbin/init', 'usr/bin/awk', 'sbin/poweroff'],
        modules,
        dependsOf: (name) => tree.dependsOf(name),
      }),
    );
  }

  void it('lays out busybox, its links, the console node, scripts and modules', () => {
    const entries = build();
    const byName = new Map(entries.map((e) => [e.name, e]));
    const type = (name: string): number => (byName.get(name)?.mode ?? 0) & S_IFMT;
    assert.equal(type('bin/busybox'), S_IFREG);
    assert.equal(byName.get('bin/busybox')?.mode, S_IFREG | 0o755);
    for (const link of ['init', 'sbin/init', 'bin/sh', 'usr/bin/awk', 'sbin/poweroff']) {
      assert.equal(type(link), S_IFLNK, link);
      assert.equal(byName.get(link)?.data.toString(), '/bin/busybox');
    }
    assert.equal(type('dev/console'), S_IFCHR);
    assert.equal(type('proc'), S_IFDIR);
    assert.equal(byName.get('etc/init.d/rcS')?.mode, S_IFREG | 0o755);
    assert.ok(byName.get('etc/init.d/rcS')?.data.toString().includes(`/lib/modules/${RELEASE}`));
    // Every entry's parent directory comes before it (the kernel creates them in order).
    const seen = new Set<string>();
    for (const e of entries) {
      const parent = e.name.includes('/') ? e.name.slice(0, e.name.lastIndexOf('/')) : '';
      assert.ok(parent === '' || seen.has(parent), `${parent} before ${e.name}`);
      seen.add(e.name);
    }
  });

  void it('lists modules in load order and writes a modules.dep for modprobe', () => {
    const byName = new Map(build().map((e) => [e.name, e]));
    assert.equal(
      byName.get(GUEST_MODULE_LIST_PATH)?.data.toString(),
      [
        'kernel/drivers/virtio/virtio_ring.ko',
        'kernel/drivers/virtio/virtio.ko',
        'kernel/net/core/failover.ko',
        'kernel/drivers/net/net_failover.ko',
        'kernel/drivers/net/virtio_net.ko',
        '',
      ].join('\n'),
    );
    const dep = byName.get(`lib/modules/${RELEASE}/modules.dep`)?.data.toString() ?? '';
    assert.match(
      dep,
      /^kernel\/drivers\/net\/virtio_net\.ko: kernel\/drivers\/net\/net_failover\.ko kernel\/net\/core\/failover\.ko kernel\/drivers\/virtio\/virtio\.ko kernel\/drivers\/virtio\/virtio_ring\.ko$/m,
    );
    assert.match(dep, /^kernel\/drivers\/virtio\/virtio_ring\.ko:$/m);
    assert.ok(byName.has(`lib/modules/${RELEASE}/kernel/drivers/net/virtio_net.ko`));
  });

  void it('falls back to the essential applets when busybox cannot run here', () => {
    const applets = listBusyboxApplets(join(dir, 'no-such-busybox'));
    for (const a of ['bin/sh', 'sbin/init', 'bin/cttyhack', 'sbin/insmod', 'sbin/poweroff', 'sbin/reboot']) assert.ok(applets.includes(a));
  });
});
