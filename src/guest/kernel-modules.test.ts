import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { KernelModuleTree, normalizeModuleName, readModinfo, readModuleFile } from './kernel-modules.js';
import { fakeModule } from './testing/fake-kernel-module.js';

void describe('readModinfo', () => {
  void it('reads key=value strings, keeping repeated keys', () => {
    const info = readModinfo(fakeModule(['license=GPL', 'alias=virtio:d00000001v*', 'alias=other', 'depends=virtio,virtio_ring', 'name=virtio_net']));
    assert.deepEqual(info.get('depends'), ['virtio,virtio_ring']);
    assert.deepEqual(info.get('alias'), ['virtio:d00000001v*', 'other']);
    assert.deepEqual(info.get('name'), ['virtio_net']);
  });

  void it('rejects what is not a 64-bit ELF', () => {
    assert.throws(() => readModinfo(Buffer.from('not an elf file at all, really, not at all; definitely not')), /not an ELF/);
    const elf32 = fakeModule([]);
    elf32[4] = 1;
    assert.throws(() => readModinfo(elf32), /64-bit/);
  });
});

void describe('normalizeModuleName', () => {
  void it("treats '-' like '_'", () => {
    assert.equal(normalizeModuleName('virtio-rng'), 'virtio_rng');
  });
});

void describe('KernelModuleTree', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tshv-modules-'));
    const put = (rel: string, data: Buffer): void => {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      writeFileSync(join(dir, rel), data);
    };
    put('kernel/drivers/virtio/virtio_ring.ko', fakeModule(['depends=']));
    put('kernel/drivers/virtio/virtio.ko', fakeModule(['depends=virtio_ring']));
    put('kernel/drivers/virtio/virtio_pci.ko', fakeModule(['depends=virtio,virtio_ring,virtio_pci_modern_dev']));
    put('kernel/drivers/virtio/virtio_pci_modern_dev.ko', fakeModule(['depends=']));
    put('kernel/net/core/failover.ko', fakeModule(['depends=']));
    put('kernel/drivers/net/net_failover.ko', fakeModule(['depends=failover']));
    put('kernel/drivers/net/virtio_net.ko', fakeModule(['depends=virtio,net_failover,virtio_ring,crc32c']));
    put('kernel/drivers/char/hw_random/virtio-rng.ko.gz', gzipSync(fakeModule(['depends=virtio,virtio_ring,rng_core'])));
    put('kernel/test/loop_a.ko', fakeModule(['depends=loop_b']));
    put('kernel/test/loop_b.ko', fakeModule(['depends=loop_a']));
    writeFileSync(join(dir, 'modules.builtin'), 'kernel/drivers/char/hw_random/rng-core.ko\nkernel/lib/crc32c.ko\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void it('orders modules after their dependencies and skips built-in ones', () => {
    const tree = new KernelModuleTree(dir);
    assert.ok(tree.isBuiltin('rng-core'));
    const { modules, missing } = tree.resolve(['virtio_pci', 'virtio_net', 'virtio_rng']);
    const names = modules.map((m) => m.name);
    assert.deepEqual(names, ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net', 'virtio_rng']);
    assert.deepEqual(missing, []);
    assert.equal(modules.at(-1)?.relPath, 'kernel/drivers/char/hw_random/virtio-rng.ko.gz');
    for (const [i, m] of modules.entries()) {
      for (const dep of tree.dependsOf(m.name)) {
        if (tree.isBuiltin(dep)) continue;
        assert.ok(names.indexOf(dep) < i, `${dep} before ${m.name}`);
      }
    }
  });

  void it('reports modules it cannot find, and built-in wanted modules need nothing', () => {
    const tree = new KernelModuleTree(dir);
    const { modules, missing } = tree.resolve(['virtio_balloon', 'crc32c', 'virtio']);
    assert.deepEqual(missing, ['virtio_balloon']);
    assert.deepEqual(modules.map((m) => m.name), ['virtio_ring', 'virtio']);
  });

  void it('decompresses .ko.gz modules', () => {
    const data = readModuleFile(join(dir, 'kernel/drivers/char/hw_random/virtio-rng.ko.gz'));
    assert.deepEqual(readModinfo(data).get('depends'), ['virtio,virtio_ring,rng_core']);
  });

  void it('refuses a dependency cycle', () => {
    assert.throws(() => new KernelModuleTree(dir).resolve(['loop_a']), /cycle loop_a -> loop_b -> loop_a/);
  });

  void it('fails clearly on a missing modules directory', () => {
    assert.throws(() => new KernelModuleTree(join(dir, 'nope')), /does not exist/);
  });
});
