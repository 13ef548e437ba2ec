// PCI0 and MCFG as ACPICA reads them (iasl -d), when iasl is installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAcpiTables } from '../../arch/x86/acpi/acpi.js';
import { PCI_ECAM_START, PCI_MMIO32_END, PCI_MMIO32_START } from '../../arch/x86/layout.js';
import { buildPciAcpi } from './acpi.js';

const iasl = existsSync('/usr/bin/iasl') ? '/usr/bin/iasl' : undefined;

function disassemble(sig: string, bytes: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-pci-iasl-'));
  try {
    writeFileSync(join(dir, `${sig}.dat`), bytes);
    const r = spawnSync(iasl!, ['-d', `${sig}.dat`], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /\bError\b|Invalid|Warning/i);
    return readFileSync(join(dir, `${sig}.dsl`), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('pci acpi: iasl reads PCI0 with its windows, and the MCFG allocation', { skip: iasl === undefined ? 'iasl not installed' : false }, () => {
  const acpi = buildPciAcpi({ ecamBase: PCI_ECAM_START, endBus: 255, mmioStart: PCI_MMIO32_START, mmioEnd: PCI_MMIO32_END });
  const { blobs } = buildAcpiTables({ cpuCount: 1, extraSbTerms: acpi.sbTerms, extraTables: acpi.tables });
  const dsdt = disassemble('DSDT', blobs.find((b) => b.signature === 'DSDT')!.bytes);
  assert.match(dsdt, /Device \(PCI0\)/);
  assert.match(dsdt, /EisaId \("PNP0A08"\)/);
  assert.match(dsdt, /EisaId \("PNP0A03"\)/);
  assert.match(dsdt, /WordBusNumber \(ResourceProducer[\s\S]*0x00FF/);
  assert.match(dsdt, /IO \(Decode16,\s*0x0CF8,\s*\/\/ Range Minimum\s*0x0CF8,/);
  assert.match(dsdt, /0x0CF7/);
  assert.match(dsdt, /0x0D00/);
  assert.match(dsdt, /DWordMemory \(ResourceProducer[\s\S]*0xC0000000[\s\S]*0xDFFFFFFF/);
  const mcfg = disassemble('MCFG', blobs.find((b) => b.signature === 'MCFG')!.bytes);
  assert.match(mcfg, /Base Address : 00000000E0000000/);
  assert.match(mcfg, /End Bus Number : FF/);
});
