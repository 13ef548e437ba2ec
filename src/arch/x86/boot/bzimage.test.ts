import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TshvError } from '../../../common/errors.js';
import { CpuState } from '../../../cpu/state.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { PCI_HOLE_END, PCI_HOLE_START } from '../layout.js';
import { parseElfKernel } from './elf.js';
import { loadLinux } from './loader.js';
import { decompressBzImagePayload } from './payload.js';
import { HDR_SETUP_SECTS, LOADED_HIGH, parseBzImage, versionString, XLF_KERNEL_64 } from './bzimage.js';
import { fakeBzImage } from './testing/fake-bzimage.js';
import { findRealKernel, NO_REAL_KERNEL } from './testing/real-kernel.js';

describe('parseBzImage', () => {
  it('decodes the setup header of a synthetic bzImage', () => {
    const img = fakeBzImage({ setupSects: 6, kernelBytes: 0x3000, initSizeBytes: 0x123000 });
    const bz = parseBzImage(img);
    assert.equal(bz.protocolVersion, 0x020f);
    assert.equal(bz.setupSects, 6);
    assert.equal(bz.kernel.byteLength, 0x3000);
    assert.equal(bz.kernel[0], img[7 * 512]);
    assert.equal(bz.prefAddress, 0x1000000);
    assert.equal(bz.kernelAlignment, 0x200000);
    assert.equal(bz.relocatable, true);
    assert.equal(bz.initSizeBytes, 0x123000);
    assert.equal(bz.initrdAddrMax, 0x7fffffff);
    assert.equal(bz.cmdlineSizeBytes, 2047);
    assert.equal(bz.loadflags & LOADED_HIGH, LOADED_HIGH);
    assert.equal(bz.xloadflags & XLF_KERNEL_64, XLF_KERNEL_64);
    // The header copy runs from 0x1f1 to 0x202 + the jump displacement byte.
    assert.equal(bz.header.byteLength, 0x26c - HDR_SETUP_SECTS);
    assert.equal(bz.header[0], 6);
  });

  it('treats setup_sects = 0 as 4', () => {
    const bz = parseBzImage(fakeBzImage({ setupSects: 0, kernelBytes: 0x1000 }));
    assert.equal(bz.setupSects, 4);
    assert.equal(bz.kernel.byteLength, 0x1000);
  });

  it('rejects an image without the HdrS signature, naming the file', () => {
    assert.throws(() => parseBzImage(fakeBzImage({ magic: 0x12345678 }), '/img/vmlinux'), (e: unknown) =>
      e instanceof TshvError && e.message === 'Cannot boot "/img/vmlinux": not a Linux bzImage (no HdrS signature)');
    assert.throws(() => parseBzImage(new Uint8Array(100), 'tiny'), /not a Linux bzImage \(no HdrS signature\)/);
  });

  it('rejects protocols older than 2.06, zImages and 32-bit-only kernels', () => {
    assert.throws(() => parseBzImage(fakeBzImage({ version: 0x0205 })), /boot protocol 2\.05 is too old/);
    assert.throws(() => parseBzImage(fakeBzImage({ loadflags: 0 })), /zImage/);
    assert.throws(() => parseBzImage(fakeBzImage({ xloadflags: 0 })), /not a 64-bit kernel/);
  });

  it('rejects a truncated image', () => {
    const img = fakeBzImage({ kernelBytes: 0x1000 });
    assert.throws(() => parseBzImage(img.subarray(0, img.byteLength - 0x100)), /image truncated/);
  });

  it('formats protocol versions', () => {
    assert.equal(versionString(0x020f), '2.15');
    assert.equal(versionString(0x0206), '2.06');
  });
});

describe('a real Debian kernel', () => {
  const path = findRealKernel()?.vmlinuz;
  const skip = path === undefined ? NO_REAL_KERNEL : false;

  it('parses as a relocatable 64-bit bzImage', { skip }, () => {
    const bz = parseBzImage(new Uint8Array(readFileSync(path!)), path);
    assert.ok(bz.protocolVersion >= 0x020c, `protocol ${versionString(bz.protocolVersion)}`);
    assert.equal(bz.xloadflags & XLF_KERNEL_64, XLF_KERNEL_64);
    assert.ok(bz.relocatable);
    assert.ok(bz.initSizeBytes > bz.kernel.byteLength);
    assert.ok(bz.cmdlineSizeBytes >= 255);
  });

  it('decompresses its payload on the host to an ELF vmlinux entered at pref_address', { skip }, (t) => {
    const bz = parseBzImage(new Uint8Array(readFileSync(path!)), path);
    const vmlinux = decompressBzImagePayload(bz);
    if (vmlinux === undefined) {
      t.skip('payload format not decoded by payload.ts (only LZ4 legacy and gzip)');
      return;
    }
    const elf = parseElfKernel(vmlinux, path);
    assert.equal(elf.entry, bz.prefAddress);
    assert.ok(elf.segments.every((s) => s.paddr >= bz.prefAddress));
  });

  it('loads into 128 MiB at pref_address with the initrd above the decompression buffer', { skip }, () => {
    const memSizeBytes = 128 * 0x10_0000;
    const mem = new GuestMemory(new Uint8Array(memSizeBytes), GuestMemory.layout(memSizeBytes, PCI_HOLE_START, PCI_HOLE_END));
    const cpus = [new CpuState(0), new CpuState(1)];
    const info = loadLinux(mem, cpus, {
      kernel: new Uint8Array(readFileSync(path!)), initrd: new Uint8Array(0x10_0000), cmdline: 'console=ttyS0',
      memSizeBytes, cpuCount: 2,
    });
    assert.equal(info.loadAddress, 0x100_0000);
    assert.equal(cpus[0]!.rip, 0x100_0200);
    assert.ok(info.initrdAddress >= info.kernelEnd);
    assert.equal(info.initrdAddress, memSizeBytes - 0x10_0000);
  });
});
