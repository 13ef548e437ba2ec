// Cross-checks our tables with ACPICA's disassembler (iasl -d) and, for the DSDT, recompiles the
// disassembled source: a table ACPICA misreads would show up as errors or missing fields.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAcpiTables } from './acpi.js';
import { AddressSpaceType, dwordAddressSpace, memory32Fixed, qwordAddressSpace, resourceTemplate, wordAddressSpace } from './aml-resources.js';
import { device, integer, method, name, returnOf, string } from './aml.js';
import { buildMcfg } from './tables.js';

function findIasl(): string | undefined {
  if (existsSync('/usr/bin/iasl')) return '/usr/bin/iasl';
  const r = spawnSync('sh', ['-c', 'command -v iasl'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const iasl = findIasl();
const skip = iasl === undefined ? 'iasl not installed (apt-get install acpica-tools)' : false;

function run(args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync(iasl!, args, { cwd, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('ACPI tables through iasl', { skip }, () => {
  // A PCI0-like device exercising every resource descriptor, as issue 4 will add.
  const pci0 = device('PCI0', [
    name('_HID', string('PNP0A08')),
    name('_CID', string('PNP0A03')),
    name('_UID', integer(0)),
    method('_STA', 0, false, [returnOf(integer(0x0f))]),
    name('_CRS', resourceTemplate([
      wordAddressSpace({ type: AddressSpaceType.BusNumber, producer: true, min: 0, max: 0xff }),
      dwordAddressSpace({ type: AddressSpaceType.Io, producer: true, min: 0x0d00, max: 0xffff }),
      dwordAddressSpace({ type: AddressSpaceType.Memory, producer: true, min: 0xc0000000, max: 0xdfffffff }),
      qwordAddressSpace({ type: AddressSpaceType.Memory, producer: true, min: 0x1_0000_0000n, max: 0x1_ffff_ffffn }),
      memory32Fixed(0xfed00000, 0x400),
    ])),
  ]);
  const { blobs } = buildAcpiTables({
    cpuCount: 2,
    extraSbTerms: [pci0],
    extraTables: [buildMcfg([{ baseAddress: 0xe0000000, segment: 0, startBus: 0, endBus: 255 }])],
  });

  // The RSDP is no table to iasl -d ("RSD " is not a valid table signature for its file
  // loader); tables.test.ts checks both of its checksums instead.
  for (const blob of blobs.filter((b) => b.signature !== 'RSD PTR ')) {
    const sig = blob.signature;
    it(`disassembles ${sig} without errors`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'tshv-iasl-'));
      try {
        writeFileSync(join(dir, `${sig}.dat`), blob.bytes);
        const r = run(['-d', `${sig}.dat`], dir);
        assert.equal(r.status, 0, r.out);
        assert.doesNotMatch(r.out, /\bError\b|Invalid|Warning/i, r.out);
        const dsl = readFileSync(join(dir, `${sig}.dsl`), 'utf8');
        assert.doesNotMatch(dsl, /\*\*\*\*.*(Error|Invalid)/i, dsl);
        if (sig === 'DSDT') {
          assert.match(dsl, /_S5_/);
          assert.match(dsl, /PNP0501/);
          assert.match(dsl, /PNP0B00/);
          assert.match(dsl, /PNP0A08/);
          // The disassembly must compile back cleanly.
          const c = run(['-vw', '3133', `${sig}.dsl`], dir);
          assert.equal(c.status, 0, c.out);
          assert.match(c.out, /0 Errors, 0 Warnings/, c.out);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
