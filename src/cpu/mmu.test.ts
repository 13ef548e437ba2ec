import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuState, Cr0, Cr4, Efer } from './state.js';
import { CpuFault, Vector, PfErr } from './fault.js';
import { Mmu, TLB_SIZE, isCanonical, tlbSlot } from './mmu.js';
import { RamBus } from './testing/system-fixture.js';

const MiB = 1 << 20;

function setup(sizeBytes = 8 * MiB): { bus: RamBus; s: CpuState; mmu: Mmu } {
  const bus = new RamBus(sizeBytes);
  const s = new CpuState(0);
  const mmu = new Mmu(s, bus);
  return { bus, s, mmu };
}

function fault(f: () => unknown): CpuFault {
  try {
    f();
  } catch (e) {
    if (e instanceof CpuFault) return e;
    throw e;
  }
  assert.fail('expected a CpuFault');
}

// The wasm tier's page-crossing check compares the tag in the first byte's slot with the last
// byte's page (wasm/translate.ts tlbEntry): the next page must never have the same slot.
void test('mmu: two consecutive pages never share a TLB slot', () => {
  const pages = [0, 1, 0xfff, 0x1000, 0x7ff7ff, 0x7fffff, 0xfffff, 0xffffe, 0x12345, 0x7ffff];
  for (let p = 0; p < 1 << 20; p += 0x3ff) pages.push(p);
  for (let q = 0; q < 256; q++) pages.push((q << 12) | 0xfff);
  for (const p of pages) {
    const a = p * 4096;
    const b = ((p + 1) % (1 << 20)) * 4096;
    assert.notEqual(tlbSlot(a), tlbSlot(b), `pages ${p.toString(16)} and the next`);
    assert.ok(tlbSlot(a) >= 0 && tlbSlot(a) < TLB_SIZE);
  }
});

// ---- no paging ----

void test('mmu: without paging linear = physical, all sizes, little-endian', () => {
  const { bus, mmu } = setup();
  mmu.write32(0x1000, 0x11223344);
  assert.equal(bus.r32(0x1000), 0x11223344);
  assert.equal(mmu.read8(0x1001), 0x33);
  assert.equal(mmu.read16(0x1002), 0x1122);
  mmu.write64(0x2000, 0xdeadbeef, 0xcafebabe);
  assert.equal(mmu.read64(0x2000), 0xdeadbeef);
  assert.equal(mmu.hi, 0xcafebabe);
  mmu.write16(0x3000, 0xabcd);
  mmu.write8(0x3002, 0xef);
  assert.equal(mmu.read32(0x3000), 0x00efabcd);
});

void test('mmu: accesses crossing a page boundary are split', () => {
  const { bus, mmu } = setup();
  mmu.write32(0x1ffe, 0xa1b2c3d4);
  assert.equal(bus.ram[0x1ffe], 0xd4);
  assert.equal(bus.ram[0x2001], 0xa1);
  assert.equal(mmu.read32(0x1ffe), 0xa1b2c3d4);
  mmu.write64(0x2ffc, 0x01020304, 0x05060708);
  assert.equal(mmu.read64(0x2ffc), 0x01020304);
  assert.equal(mmu.hi, 0x05060708);
  assert.equal(mmu.read16(0x3fff) & 0xff, bus.ram[0x3fff]);
});

void test('mmu: non-RAM physical addresses go to MMIO; 8-byte MMIO is two 4-byte accesses', () => {
  const { bus, mmu } = setup(1 * MiB);
  assert.equal(mmu.read32(0xfee00030), 0xffffffff);
  mmu.write64(0xfee00300, 0x12345678, 0x9abcdef0);
  assert.deepEqual(bus.mmioLog.filter((e) => e.write).map((e) => [e.pa, e.size, e.value]), [
    [0xfee00300, 4, 0x12345678], [0xfee00304, 4, 0x9abcdef0],
  ]);
});

// ---- 32-bit paging ----

function paging32(): { bus: RamBus; s: CpuState; mmu: Mmu } {
  const env = setup();
  const { bus, s } = env;
  // PD at 0x10000, PT at 0x11000. Map 0x400000 (PDE 1) -> PT with pages:
  // 0x400000 -> 0x20000 (user, rw), 0x401000 -> 0x21000 (user, ro), 0x402000 -> 0x22000 (supervisor rw).
  bus.w32(0x10000 + 1 * 4, 0x11000 | 0x7);
  bus.w32(0x11000 + 0 * 4, 0x20000 | 0x7);
  bus.w32(0x11000 + 1 * 4, 0x21000 | 0x5);
  bus.w32(0x11000 + 2 * 4, 0x22000 | 0x3);
  // PDE 2: 4 MiB page at 0x400000 physical (PSE), supervisor.
  bus.w32(0x10000 + 2 * 4, 0x400000 | 0x83);
  s.cr3 = 0x10000;
  s.cr4 = Cr4.PSE;
  s.cr0 = (Cr0.PE | Cr0.PG | Cr0.ET) >>> 0;
  return env;
}

void test('mmu 32-bit: 4 KiB translation, accessed and dirty bits', () => {
  const { bus, mmu } = paging32();
  mmu.write32(0x400010, 0xcafe);
  assert.equal(bus.r32(0x20010), 0xcafe);
  assert.equal(bus.r32(0x10004) & 0x20, 0x20, 'PDE accessed');
  assert.equal(bus.r32(0x11000) & 0x60, 0x60, 'PTE accessed + dirty');
  assert.equal(mmu.read32(0x401000), 0);
  assert.equal(bus.r32(0x11004) & 0x60, 0x20, 'read sets A only');
});

void test('mmu 32-bit: 4 MiB PSE page', () => {
  const { bus, mmu } = paging32();
  bus.w32(0x400000 + 0x12345, 0x77665544);
  assert.equal(mmu.read32(0x800000 + 0x12345), 0x77665544);
});

void test('mmu 32-bit: not-present, user and write-protect faults set CR2 and error codes (SDM 4.7)', () => {
  const { s, mmu } = paging32();
  let f = fault(() => mmu.read8(0xc00000));
  assert.equal(f.vector, Vector.PF);
  assert.equal(f.errorCode, 0);
  assert.equal(s.cr2, 0xc00000);
  f = fault(() => mmu.write8(0xc00004, 1));
  assert.equal(f.errorCode, PfErr.W);
  // Supervisor write to a read-only page: allowed with CR0.WP = 0, faults with WP = 1.
  mmu.write8(0x401000, 1);
  s.cr0 |= Cr0.WP;
  mmu.flushTlb(true);
  f = fault(() => mmu.write8(0x401001, 1));
  assert.equal(f.errorCode, PfErr.P | PfErr.W);
  assert.equal(s.cr2, 0x401001);
  // User (CPL 3) accesses.
  s.cpl = 3;
  f = fault(() => mmu.read8(0x402000));
  assert.equal(f.errorCode, PfErr.P | PfErr.U);
  f = fault(() => mmu.write8(0x401000, 1));
  assert.equal(f.errorCode, PfErr.P | PfErr.W | PfErr.U);
  f = fault(() => mmu.read8(0xc00000));
  assert.equal(f.errorCode, PfErr.U);
  assert.equal(mmu.read8(0x400000), 0);
  // Supervisor-forced accesses ignore CPL.
  assert.equal(mmu.readSystem32(0x402000), 0);
});

// ---- PAE ----

function pae(): { bus: RamBus; s: CpuState; mmu: Mmu } {
  const env = setup();
  const { bus, s } = env;
  // PDPT at 0x10000 (32-byte aligned), PD at 0x11000, PT at 0x12000.
  bus.w64(0x10000, 0x11000 | 1, 0);
  bus.w64(0x11000, 0x12000 | 0x7, 0);
  bus.w64(0x11000 + 8, 0x200000 | 0x87, 0); // 2 MiB page at lin 0x200000 -> pa 0x200000
  bus.w64(0x12000 + 8, 0x30000 | 0x7, 0x80000000); // lin 0x1000 -> 0x30000, XD
  bus.w64(0x12000 + 16, 0x31000 | 0x7, 0); // lin 0x2000 -> 0x31000
  s.cr3 = 0x10000;
  s.cr4 = Cr4.PAE;
  s.efer = Efer.NXE;
  s.cr0 = (Cr0.PE | Cr0.PG | Cr0.ET) >>> 0;
  return env;
}

void test('mmu PAE: 4 KiB and 2 MiB pages', () => {
  const { bus, mmu } = pae();
  bus.w32(0x31010, 0x12345678);
  assert.equal(mmu.read32(0x2010), 0x12345678);
  bus.w32(0x2abcd0, 0x55aa55aa);
  assert.equal(mmu.read32(0x2abcd0), 0x55aa55aa);
});

void test('mmu PAE: XD page faults on fetch with the I bit; data access is fine', () => {
  const { s, mmu } = pae();
  assert.equal(mmu.read8(0x1000), 0);
  const f = fault(() => mmu.fetchCode8(0x1000));
  assert.equal(f.errorCode, PfErr.P | PfErr.I);
  assert.equal(s.cr2, 0x1000);
  assert.equal(mmu.fetchCode8(0x2000), 0);
});

void test('mmu PAE: XD set while EFER.NXE = 0 is a reserved-bit fault', () => {
  const { s, mmu } = pae();
  s.efer = 0;
  const f = fault(() => mmu.read8(0x1000));
  assert.equal(f.errorCode, PfErr.P | PfErr.RSVD);
  // Physical-address bits above MAXPHYADDR (40) are reserved too.
  s.efer = Efer.NXE;
  mmu.flushTlb(true);
  const { bus } = { bus: (mmu as unknown as { bus: RamBus }).bus };
  bus.w64(0x12000 + 24, 0x32000 | 0x7, 0x100); // bit 40
  assert.equal(fault(() => mmu.read8(0x3000)).errorCode, PfErr.P | PfErr.RSVD);
});

// ---- 4-level ----

function long4(): { bus: RamBus; s: CpuState; mmu: Mmu } {
  const env = setup(16 * MiB);
  const { bus, s } = env;
  // PML4 0x10000. Low half: PML4[0] -> PDPT 0x11000 -> PD 0x12000 -> PT 0x13000.
  bus.w64(0x10000, 0x11000 | 0x7, 0);
  bus.w64(0x11000, 0x12000 | 0x7, 0);
  bus.w64(0x12000, 0x13000 | 0x7, 0);
  bus.w64(0x13000 + 5 * 8, 0x50000 | 0x7, 0); // lin 0x5000 -> 0x50000
  bus.w64(0x13000 + 6 * 8, 0x60000 | 0x103, 0); // lin 0x6000 -> 0x60000, supervisor, global
  bus.w64(0x12000 + 8, 0x400000 | 0x83, 0); // lin 0x200000: 2 MiB page -> 0x400000
  // 1 GiB page: PDPT[1] -> pa 0 (lin 0x40000000..).
  bus.w64(0x11000 + 8, 0x0 | 0x83, 0);
  // High half: 0xffffffff81000000 -> PML4[511] -> PDPT 0x14000 [510] -> PD 0x15000 [8] -> 2 MiB at 0x800000.
  bus.w64(0x10000 + 511 * 8, 0x14000 | 0x3, 0);
  bus.w64(0x14000 + 510 * 8, 0x15000 | 0x3, 0);
  bus.w64(0x15000 + 8 * 8, 0x800000 | 0x83, 0);
  s.cr3 = 0x10000;
  s.cr4 = Cr4.PAE | Cr4.PGE;
  s.efer = Efer.LME | Efer.LMA | Efer.NXE;
  s.cr0 = (Cr0.PE | Cr0.PG | Cr0.WP | Cr0.ET) >>> 0;
  return env;
}

const KERNEL = -0x7f000000; // 0xffffffff81000000 in canonical number form

void test('mmu 4-level: 4 KiB, 2 MiB, 1 GiB pages and a high-half kernel address', () => {
  const { bus, mmu } = long4();
  mmu.write32(0x5008, 0x01020304);
  assert.equal(bus.r32(0x50008), 0x01020304);
  mmu.write32(0x200000 + 0x1234, 0xfeedface);
  assert.equal(bus.r32(0x401234), 0xfeedface);
  bus.w32(0x123450, 0xabcdef01);
  assert.equal(mmu.read32(0x40000000 + 0x123450), 0xabcdef01);
  mmu.write64(KERNEL + 0x10, 0x11111111, 0x22222222);
  assert.equal(bus.r64(0x800010), 0x2222222211111111n);
  assert.equal(mmu.read64(KERNEL + 0x10), 0x11111111);
  assert.equal(mmu.hi, 0x22222222);
  // A/D bits at every level of the 4 KiB walk.
  assert.equal(bus.r32(0x10000) & 0x20, 0x20);
  assert.equal(bus.r32(0x11000) & 0x20, 0x20);
  assert.equal(bus.r32(0x12000) & 0x20, 0x20);
  assert.equal(bus.r32(0x13000 + 5 * 8) & 0x60, 0x60);
});

void test('mmu 4-level: non-canonical addresses raise #GP(0), or #SS(0) for stack accesses', () => {
  const { mmu } = long4();
  assert.ok(isCanonical(KERNEL));
  assert.ok(!isCanonical(0x800000000000));
  let f = fault(() => mmu.read8(0x800000000000));
  assert.equal(f.vector, Vector.GP);
  assert.equal(f.errorCode, 0);
  f = fault(() => mmu.writeStack64(0x800000000000 + 8, 0, 0));
  assert.equal(f.vector, Vector.SS);
  assert.equal(f.errorCode, 0);
});

void test('mmu 4-level: PS in a PML4 entry and reserved bits in a 2 MiB entry fault with RSVD', () => {
  const { bus, s, mmu } = long4();
  bus.w64(0x10000 + 8, 0x0 | 0x83, 0); // PML4[1] with PS
  let f = fault(() => mmu.read8(0x8000000000));
  assert.equal(f.errorCode, PfErr.P | PfErr.RSVD);
  bus.w64(0x12000 + 16, 0x600000 | 0x2000 | 0x83, 0); // bit 13 of a 2 MiB PDE
  s.cpl = 3;
  f = fault(() => mmu.write8(0x400000, 0));
  assert.equal(f.errorCode, PfErr.P | PfErr.RSVD | PfErr.W | PfErr.U);
  assert.equal(s.cr2, 0x400000);
});

void test('mmu 4-level: user access to a supervisor page and fetch from an XD page', () => {
  const { bus, s, mmu } = long4();
  s.cpl = 3;
  assert.equal(fault(() => mmu.read8(0x6000)).errorCode, PfErr.P | PfErr.U);
  assert.equal(mmu.read8(0x5000), 0);
  s.cpl = 0;
  bus.w64(0x13000 + 7 * 8, 0x70000 | 0x3, 0x80000000);
  assert.equal(fault(() => mmu.fetchCode8(0x7000)).errorCode, PfErr.P | PfErr.I);
  assert.equal(mmu.translateCode(0x5004), 0x50004);
});

void test('mmu TLB: stale until INVLPG; CR3 reload keeps global pages; full flush drops them', () => {
  const { bus, mmu } = long4();
  bus.w32(0x50000, 1); bus.w32(0x51000, 2); bus.w32(0x60000, 3); bus.w32(0x61000, 4);
  assert.equal(mmu.read32(0x5000), 1);
  assert.equal(mmu.read32(0x6000), 3);
  bus.w64(0x13000 + 5 * 8, 0x51000 | 0x7, 0);
  bus.w64(0x13000 + 6 * 8, 0x61000 | 0x103, 0);
  assert.equal(mmu.read32(0x5000), 1, 'cached translation');
  mmu.invlpg(0x5000);
  assert.equal(mmu.read32(0x5000), 2);
  bus.w64(0x13000 + 5 * 8, 0x50000 | 0x7, 0);
  mmu.flushTlb(false); // MOV CR3
  assert.equal(mmu.read32(0x5000), 1);
  assert.equal(mmu.read32(0x6000), 3, 'global page survives a CR3 reload');
  mmu.flushTlb(true);
  assert.equal(mmu.read32(0x6000), 4);
});

void test('mmu TLB: INVLPG drops every cached piece of a 2 MiB page', () => {
  const { bus, mmu } = long4();
  bus.w32(0x400000, 7); bus.w32(0x5ff000, 8);
  assert.equal(mmu.read32(0x200000), 7);
  assert.equal(mmu.read32(0x3ff000), 8);
  bus.w64(0x12000 + 8, 0x600000 | 0x83, 0);
  mmu.invlpg(0x200000);
  assert.equal(mmu.read32(0x3ff000), 0, 'the other piece was dropped too');
});

void test('mmu TLB: a write through a clean page walks again to set D', () => {
  const { bus, mmu } = long4();
  assert.equal(mmu.read32(0x5000), 0);
  assert.equal(bus.r32(0x13000 + 5 * 8) & 0x40, 0);
  const walks = mmu.walks;
  mmu.write32(0x5000, 9);
  assert.equal(mmu.walks, walks + 1);
  assert.equal(bus.r32(0x13000 + 5 * 8) & 0x40, 0x40);
  mmu.write32(0x5004, 9);
  assert.equal(mmu.walks, walks + 1, 'then writes hit the TLB');
});

void test('mmu TLB: user and supervisor entries are separate', () => {
  const { s, mmu } = long4();
  assert.equal(mmu.read8(0x6000), 0); // supervisor fills its half
  s.cpl = 3;
  assert.equal(fault(() => mmu.read8(0x6000)).errorCode, PfErr.P | PfErr.U);
});

void test('mmu: a page-crossing write that faults on the second page writes nothing', () => {
  const { bus, s, mmu } = long4();
  bus.w32(0x60ffc, 0x11111111);
  const f = fault(() => mmu.write64(0x6ffc, 0xaaaaaaaa, 0xbbbbbbbb));
  assert.equal(f.vector, Vector.PF);
  assert.equal(f.errorCode, PfErr.W);
  assert.equal(s.cr2, 0x7000, 'CR2 is the first byte of the missing page');
  assert.equal(bus.r32(0x60ffc), 0x11111111);
});

void test('mmu: writes to pages flagged in codePages call onCodeWrite with the page address', () => {
  const { mmu } = long4();
  const hits: number[] = [];
  mmu.onCodeWrite = (pa) => hits.push(pa);
  mmu.codePages[0x50] = 1;
  mmu.write8(0x5010, 1); // slow path (first touch)
  mmu.write32(0x5020, 1); // TLB hit path
  mmu.write16(0x6010, 1); // other page: nothing
  mmu.write64(0x5ffc, 1, 2); // crossing into 0x6000 (supervisor page 0x60000)
  assert.deepEqual(hits, [0x50000, 0x50000, 0x50000]);
});

void test('mmu: the wasm TLB allows no store to a page holding code (fill and codePageChanged)', () => {
  const env = long4();
  const storage = {
    tagR: new Float64Array(2 * TLB_SIZE), tagW: new Float64Array(2 * TLB_SIZE), addend: new Float64Array(2 * TLB_SIZE),
    ppn: new Int32Array(2 * TLB_SIZE), wasmTlb: new Int32Array(8 * TLB_SIZE),
  };
  const mmu = new Mmu(env.s, env.bus, storage);
  const wt = storage.wasmTlb;
  const bit = (lin: number): number => wt[4 * tlbSlot(lin)]! & 1;
  mmu.write8(0x5010, 1);
  assert.equal(wt[4 * tlbSlot(0x5000)]! & ~0xfff, 0x5000, 'filled');
  assert.equal(bit(0x5000), 0, 'writable data page');
  mmu.codePageChanged(0x50, true);
  assert.equal(bit(0x5000), 1, 'code decoded there: wasm stores miss');
  mmu.codePageChanged(0x51, false);
  assert.equal(bit(0x5000), 1, 'another page changes nothing');
  mmu.codePageChanged(0x50, false);
  assert.equal(bit(0x5000), 0, 'code dropped: writable again');
  mmu.codePages[0x50] = 1;
  mmu.flushTlb(true);
  mmu.read8(0x5010);
  assert.equal(bit(0x5000), 1, 'filled while the page holds code');
  mmu.codePageChanged(-1, false);
  assert.equal(bit(0x5000), 0, 'every page dropped');
  mmu.read8(0x6010); // supervisor page with D clear: not writable in the TLB
  assert.equal(bit(0x6000), 1);
  mmu.codePageChanged(0x60, false);
  mmu.codePageChanged(-1, false);
  assert.equal(bit(0x6000), 1, 'a page the TLB does not let write stays so');
});

void test('mmu: 32-bit linear addresses wrap at 4 GiB outside long mode', () => {
  const { bus, mmu } = setup();
  mmu.write16(0xffffffff, 0x1234);
  assert.equal(bus.mmioLog.length > 0, true);
  assert.equal(bus.ram[0], 0x12);
});

void test('mmu: INVLPG code scope follows where code was translated, by 4 MiB region and globalness', () => {
  const { mmu } = long4();
  assert.equal(mmu.invlpgCodeScope(0x5000), 'none');
  mmu.translateCode(0x5000); // user page, not global
  assert.equal(mmu.invlpgCodeScope(0x5000), 'local');
  assert.equal(mmu.invlpgCodeScope(0x3ff000), 'local', 'same 4 MiB region');
  assert.equal(mmu.invlpgCodeScope(0x400000), 'none', 'the next region');
  mmu.flushTlb(false); // a CR3 write forgets nothing: links through other regions may remain
  assert.equal(mmu.invlpgCodeScope(0x5000), 'local');
  mmu.translateCode(0x6000); // global page in the same region
  assert.equal(mmu.invlpgCodeScope(0x5000), 'global');
  mmu.invlpg(0x6000);
  assert.equal(mmu.invlpgCodeScope(0x6000), 'global', 'INVLPG keeps the record (the CPU dropped its links)');
  mmu.flushTlb(true);
  assert.equal(mmu.invlpgCodeScope(0x5000), 'none');
  mmu.read32(0x40000000); // a 1 GiB page cached: any INVLPG may change anything
  assert.equal(mmu.invlpgCodeScope(0x800000), 'global');
});
