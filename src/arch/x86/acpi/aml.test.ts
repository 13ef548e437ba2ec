import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buffer, device, eisaId, eisaIdValue, integer, method, name, nameString, packageOf, pkgLength, returnOf, scope, string,
} from './aml.js';
import {
  AddressSpaceType, dwordAddressSpace, io, irq, irqNoFlags, memory32Fixed, qwordAddressSpace, resourceTemplate,
  wordAddressSpace,
} from './aml-resources.js';

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('AML encoder', () => {
  it('encodes PkgLength in 1 to 4 bytes, counting itself', () => {
    assert.deepEqual([...pkgLength(0)], [1]);
    assert.deepEqual([...pkgLength(62)], [63]);
    // 63 content bytes + 2 length bytes = 65 = 0x41: lead 0x41, next 0x04.
    assert.deepEqual([...pkgLength(63)], [0x41, 0x04]);
    assert.deepEqual([...pkgLength(0xffd)], [0x4f, 0xff]);
    assert.deepEqual([...pkgLength(0xffe)], [0x81, 0x00, 0x01]); // 0x1001 in 3 bytes
    assert.deepEqual([...pkgLength(0xffffc)], [0x8f, 0xff, 0xff]); // 0xfffff, the 3-byte maximum
    assert.deepEqual([...pkgLength(0xffffd)], [0xc1, 0x00, 0x00, 0x01]); // 0x100001 in 4 bytes
  });

  it('encodes integers with the shortest prefix', () => {
    assert.equal(hexOf(integer(0)), '00');
    assert.equal(hexOf(integer(1)), '01');
    assert.equal(hexOf(integer(2)), '0a02');
    assert.equal(hexOf(integer(0x1234)), '0b3412');
    assert.equal(hexOf(integer(0x12345678)), '0c78563412');
    assert.equal(hexOf(integer(0x1_0000_0000)), '0e0000000001000000');
    assert.equal(hexOf(integer(0xffff_ffff_ffff_ffffn)), 'ff');
  });

  it('encodes names, strings and EISA IDs', () => {
    assert.equal(hexOf(nameString('_S5')), '5f53355f');
    assert.equal(hexOf(nameString('\\_SB')), '5c5f53425f');
    assert.equal(hexOf(nameString('\\_SB.PCI0')), '5c2e5f53425f50434930');
    assert.equal(hexOf(nameString('\\_SB.PCI0.ISA')), '5c2f035f53425f504349304953415f');
    assert.equal(hexOf(nameString('^FOO')), '5e464f4f5f');
    assert.throws(() => nameString('toolong'), /Invalid AML name segment/);
    assert.equal(hexOf(string('ACPI0007')), '0d414350493030303700');
    assert.equal(eisaIdValue('PNP0501'), 0x0105d041);
    assert.equal(eisaIdValue('PNP0B00'), 0x000bd041);
    assert.equal(hexOf(eisaId('PNP0303')), '0c41d00303');
  });

  it('encodes Name, Package, Buffer, Scope, Device, Method and Return', () => {
    assert.equal(hexOf(name('_UID', integer(1))), '085f55494401');
    assert.equal(hexOf(packageOf([integer(5), integer(0)])), '1205020a0500');
    assert.equal(hexOf(buffer(Uint8Array.from([1, 2]))), '11050a020102');
    assert.equal(hexOf(scope('\\_SB', [])), '10065c5f53425f');
    assert.equal(hexOf(device('COM1', [])), '5b8205434f4d31');
    assert.equal(hexOf(method('_STA', 0, false, [returnOf(integer(0x0f))])), '14095f53544100a40a0f');
    assert.equal(method('_DSM', 4, true, [])[6], 0x0c);
  });

  it('encodes resource descriptors and closes templates with a zero-sum End Tag', () => {
    assert.equal(hexOf(io(0x3f8, 0x3f8, 0, 8)), '4701f803f8030008');
    assert.equal(hexOf(irqNoFlags([4])), '221000');
    assert.equal(hexOf(irq([9], { edge: false, activeLow: false, shared: true })), '23000210');
    assert.equal(hexOf(memory32Fixed(0xfec00000, 0x1000)), '860900010000c0fe00100000');
    const bus = wordAddressSpace({ type: AddressSpaceType.BusNumber, producer: true, min: 0, max: 0xff });
    assert.equal(bus.byteLength, 16);
    assert.equal(hexOf(bus.subarray(0, 6)), '880d00020c00');
    assert.equal(dwordAddressSpace({ type: AddressSpaceType.Memory, producer: true, min: 0xc0000000, max: 0xdfffffff }).byteLength, 26);
    const q = qwordAddressSpace({ type: AddressSpaceType.Memory, producer: true, min: 0x1_0000_0000n, max: 0x1_ffff_ffffn });
    assert.equal(q.byteLength, 46);
    assert.equal(new DataView(q.buffer).getBigUint64(38, true), 0x1_0000_0000n); // _LEN
    const rt = resourceTemplate([io(0x70, 0x70, 0, 2), irqNoFlags([8])]);
    // Buffer header: 11, PkgLength, 0a <size>; then the descriptors ending 79 <checksum>.
    const body = rt.subarray(4);
    assert.equal(rt[3], body.byteLength);
    assert.equal(body[body.byteLength - 2], 0x79);
    assert.equal(body.reduce((s, b) => (s + b) & 0xff, 0), 0);
  });
});
