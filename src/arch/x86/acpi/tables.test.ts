import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../../memory/guest-memory.js';
import {
  ACPI_PM1A_CNT, ACPI_PM1A_EVT, ACPI_PM_TMR, ACPI_SCI_IRQ, ACPI_TABLES_END, ACPI_TABLES_START, IOAPIC_BASE,
  LAPIC_BASE, RESET_PORT, RSDP_START,
} from '../layout.js';
import { buildAcpiTables, writeAcpiTables, type AcpiBlob } from './acpi.js';
import { device, name, string } from './aml.js';
import {
  buildMcfg, byteSum, FADT_BYTES, FADT_PROC_C1, FADT_PWR_BUTTON, FADT_RESET_REG_SUP, FADT_SLP_BUTTON,
  FADT_TMR_VAL_EXT, FADT_WBINVD,
} from './tables.js';

function table(blobs: AcpiBlob[], sig: string): { bytes: Uint8Array; view: DataView; address: number } {
  const b = blobs.find((x) => x.signature === sig);
  assert.ok(b, `no ${sig}`);
  return { bytes: b.bytes, view: new DataView(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength), address: b.address };
}

/** MADT entries as [type, length, offset] (after the 44-byte fixed part). */
function madtEntries(bytes: Uint8Array): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let off = 44; off < bytes.byteLength; off += bytes[off + 1]!) out.push([bytes[off]!, bytes[off + 1]!, off]);
  return out;
}

describe('ACPI tables', () => {
  const { blobs, rsdpAddress } = buildAcpiTables({ cpuCount: 4 });

  it('has valid checksums and lengths, and fits in the reserved area', () => {
    assert.equal(rsdpAddress, RSDP_START);
    for (const b of blobs) {
      if (b.signature === 'RSD PTR ') {
        assert.equal(b.bytes.byteLength, 36);
        assert.equal(byteSum(b.bytes, 0, 20), 0, 'RSDP checksum');
        assert.equal(byteSum(b.bytes), 0, 'RSDP extended checksum');
        continue;
      }
      const v = new DataView(b.bytes.buffer, b.bytes.byteOffset);
      assert.equal(v.getUint32(4, true), b.bytes.byteLength, `${b.signature} length`);
      if (b.signature !== 'FACS') assert.equal(byteSum(b.bytes), 0, `${b.signature} checksum`);
      assert.ok(b.address >= ACPI_TABLES_START && b.address + b.bytes.byteLength <= ACPI_TABLES_END);
      assert.equal(b.address % (b.signature === 'FACS' ? 64 : 8), 0);
    }
  });

  it('links RSDP -> XSDT/RSDT -> FADT, MADT and FADT -> DSDT, FACS', () => {
    const rsdp = table(blobs, 'RSD PTR ');
    assert.equal(rsdp.bytes[15], 2);
    const xsdt = table(blobs, 'XSDT');
    assert.equal(rsdp.view.getBigUint64(24, true), BigInt(xsdt.address));
    assert.equal(rsdp.view.getUint32(16, true), table(blobs, 'RSDT').address);
    const listed = [0, 1].map((i) => Number(xsdt.view.getBigUint64(36 + 8 * i, true)));
    assert.deepEqual(listed, [table(blobs, 'FACP').address, table(blobs, 'APIC').address]);
    const fadt = table(blobs, 'FACP');
    assert.equal(fadt.bytes.byteLength, FADT_BYTES);
    assert.equal(fadt.bytes[8], 6); // revision
    assert.equal(fadt.view.getUint32(36, true), 0); // FIRMWARE_CTRL: X_FIRMWARE_CTRL used instead
    assert.equal(fadt.view.getBigUint64(132, true), BigInt(table(blobs, 'FACS').address));
    assert.equal(fadt.view.getUint32(40, true), table(blobs, 'DSDT').address);
    assert.equal(fadt.view.getBigUint64(140, true), BigInt(table(blobs, 'DSDT').address));
  });

  it('describes the fixed hardware in the FADT', () => {
    const { view } = table(blobs, 'FACP');
    assert.equal(view.getUint16(46, true), ACPI_SCI_IRQ);
    assert.equal(view.getUint32(48, true), 0); // SMI_CMD: always in ACPI mode
    assert.equal(view.getUint32(56, true), ACPI_PM1A_EVT);
    assert.equal(view.getUint32(64, true), ACPI_PM1A_CNT);
    assert.equal(view.getUint32(76, true), ACPI_PM_TMR);
    assert.equal(view.getUint8(91), 4);
    assert.equal(view.getUint16(109, true), 3); // LEGACY_DEVICES | 8042
    const flags = view.getUint32(112, true);
    assert.equal(flags, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RESET_REG_SUP);
    assert.equal(flags & FADT_PWR_BUTTON, 0);
    // RESET_REG: system I/O, 8 bits, port 0xcf9; RESET_VALUE 6.
    assert.equal(view.getUint8(116), 1);
    assert.equal(view.getBigUint64(120, true), BigInt(RESET_PORT));
    assert.equal(view.getUint8(128), 6);
    // X_PM1a_EVT_BLK / X_PM_TMR_BLK GAS.
    assert.equal(view.getUint8(148), 1);
    assert.equal(view.getUint8(149), 32);
    assert.equal(view.getBigUint64(152, true), BigInt(ACPI_PM1A_EVT));
    assert.equal(view.getBigUint64(212, true), BigInt(ACPI_PM_TMR));
    const ext = table(buildAcpiTables({ cpuCount: 1, pmTimer32Bit: true }).blobs, 'FACP');
    assert.equal(ext.view.getUint32(112, true) & FADT_TMR_VAL_EXT, FADT_TMR_VAL_EXT);
  });

  it('lists a local APIC per vCPU, the IOAPIC, overrides and LINT1 NMI in the MADT', () => {
    const { bytes, view } = table(blobs, 'APIC');
    assert.equal(view.getUint32(36, true), LAPIC_BASE);
    assert.equal(view.getUint32(40, true), 1); // PCAT_COMPAT
    const entries = madtEntries(bytes);
    const lapics = entries.filter(([t]) => t === 0);
    assert.deepEqual(lapics.map(([, , off]) => [bytes[off + 2], bytes[off + 3], view.getUint32(off + 4, true)]),
      [[0, 0, 1], [1, 1, 1], [2, 2, 1], [3, 3, 1]]);
    const ioapic = entries.find(([t]) => t === 1)!;
    assert.equal(view.getUint32(ioapic[2] + 4, true), IOAPIC_BASE);
    assert.equal(view.getUint32(ioapic[2] + 8, true), 0);
    const overrides = entries.filter(([t]) => t === 2).map(([, , off]) =>
      [bytes[off + 3], view.getUint32(off + 4, true), view.getUint16(off + 8, true)]);
    assert.deepEqual(overrides, [[0, 2, 0x5], [9, 9, 0xd]]);
    const nmi = entries.find(([t]) => t === 4)!;
    assert.deepEqual([bytes[nmi[2] + 2], bytes[nmi[2] + 5]], [0xff, 1]);
    assert.ok(!entries.some(([t]) => t === 9));
  });

  it('uses x2APIC entries for vCPUs past APIC ID 254', () => {
    const { bytes } = table(buildAcpiTables({ cpuCount: 300 }).blobs, 'APIC');
    const entries = madtEntries(bytes);
    assert.equal(entries.filter(([t]) => t === 0).length, 255);
    assert.equal(entries.filter(([t]) => t === 9).length, 45);
    assert.equal(entries.filter(([t]) => t === 10).length, 1);
  });

  it('takes extra \\_SB devices and extra tables', () => {
    const mcfg = buildMcfg([{ baseAddress: 0xe0000000, segment: 0, startBus: 0, endBus: 255 }]);
    assert.equal(byteSum(mcfg), 0);
    const pci = device('PCI0', [name('_HID', string('PNP0A08'))]);
    const t = buildAcpiTables({ cpuCount: 1, extraSbTerms: [pci], extraTables: [mcfg] });
    const xsdt = table(t.blobs, 'XSDT');
    assert.equal(xsdt.bytes.byteLength, 36 + 3 * 8);
    assert.equal(Number(xsdt.view.getBigUint64(36 + 16, true)), table(t.blobs, 'MCFG').address);
    const dsdt = Buffer.from(table(t.blobs, 'DSDT').bytes);
    assert.ok(dsdt.includes(Buffer.from('PCI0')) && dsdt.includes(Buffer.from('PNP0A08')));
  });

  it('writes everything into guest memory', () => {
    const mem = new GuestMemory(new Uint8Array(2 * 0x10_0000), [{ gpa: 0, sizeBytes: 2 * 0x10_0000, offset: 0 }]);
    mem.fill(0, 2 * 0x10_0000, 0xee);
    assert.equal(writeAcpiTables(mem, { cpuCount: 2 }), RSDP_START);
    assert.equal(new TextDecoder().decode(mem.read(RSDP_START, 8)), 'RSD PTR ');
    const xsdt = Number(mem.readU64(RSDP_START + 24));
    assert.equal(new TextDecoder().decode(mem.read(xsdt, 4)), 'XSDT');
    assert.equal(mem.readU8(RSDP_START + 36), 0); // the area is cleared
    assert.equal(mem.readU8(0x100000), 0xee); // and nothing past it is touched
  });
});
