import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuMode, Cr0, Seg } from './state.js';
import { CpuFault, Vector } from './fault.js';
import {
  UnsupportedSystemFeatureError, descAttr, descBase, descLimit, loadCsForJump, loadLdt, loadSegment, readDescriptor,
} from './segments.js';
import { GDT_BASE, RamBus, SEL, TestCpu, segDescriptor, setSeg, standardGdt } from './testing/system-fixture.js';

function fault(f: () => unknown): [number, number] {
  try { f(); } catch (e) { if (e instanceof CpuFault) return [e.vector, e.errorCode]; throw e; }
  assert.fail('expected a CpuFault');
}

function protected32(): { bus: RamBus; cpu: TestCpu } {
  const bus = new RamBus(1 << 20);
  const cpu = new TestCpu(bus);
  standardGdt(bus, cpu);
  cpu.cr0 = (Cr0.PE | Cr0.ET) >>> 0;
  setSeg(cpu, Seg.CS, SEL.CODE32, 0xc09b);
  setSeg(cpu, Seg.SS, SEL.DATA0, 0xc093);
  cpu.updateMode();
  return { bus, cpu };
}

void test('segments: descriptor field decoding (base, limit with G, attributes)', () => {
  const [lo, hi] = segDescriptor(0x12345678, 0xfffff000 | 0xfff, 0xc093);
  assert.equal(descBase(lo, hi), 0x12345678);
  assert.equal(descLimit(lo, hi), 0xffffffff);
  assert.equal(descAttr(hi), 0xc093);
  const [lo2, hi2] = segDescriptor(0xb8000, 0x7fff, 0x00f3);
  assert.equal(descLimit(lo2, hi2), 0x7fff);
});

void test('segments: real mode loads set base = selector * 16 only', () => {
  const cpu = new TestCpu(new RamBus(1 << 20));
  assert.equal(cpu.mode, CpuMode.Real);
  loadSegment(cpu, Seg.DS, 0x1234);
  assert.deepEqual({ ...cpu.seg[Seg.DS]! }, { selector: 0x1234, base: 0x12340, limit: 0xffff, attr: 0x93 });
});

void test('segments: protected-mode data load caches the descriptor and sets its accessed bit', () => {
  const { bus, cpu } = protected32();
  const [lo, hi] = segDescriptor(0x10000, 0xffff, 0x0092); // not yet accessed
  bus.w64(GDT_BASE + 0x58, lo, hi);
  loadSegment(cpu, Seg.ES, 0x58);
  assert.deepEqual({ ...cpu.seg[Seg.ES]! }, { selector: 0x58, base: 0x10000, limit: 0xffff, attr: 0x93 });
  assert.equal(bus.r32(GDT_BASE + 0x5c) & 0x100, 0x100);
  assert.deepEqual(readDescriptor(cpu, 0x58)?.hi, bus.r32(GDT_BASE + 0x5c));
});

void test('segments: protection checks give #GP/#SS/#NP with the selector', () => {
  const { bus, cpu } = protected32();
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.SS, 0)), [Vector.GP, 0]);
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.SS, SEL.DATA0 | 3)), [Vector.GP, SEL.DATA0]);
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.SS, SEL.CODE32)), [Vector.GP, SEL.CODE32]);
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.DS, 0x1f8)), [Vector.GP, 0x1f8]);
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.DS, SEL.TSS)), [Vector.GP, SEL.TSS]);
  const [lo, hi] = segDescriptor(0, 0xffff, 0x0012); // not present
  bus.w64(GDT_BASE + 0x58, lo, hi);
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.DS, 0x58)), [Vector.NP, 0x58]);
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.SS, 0x58)), [Vector.SS, 0x58]);
  // Execute-only code cannot be loaded into a data register.
  const [xlo, xhi] = segDescriptor(0, 0xffff, 0x0098);
  bus.w64(GDT_BASE + 0x58, xlo, xhi);
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.DS, 0x58)), [Vector.GP, 0x58]);
  // CPL 3 cannot load a DPL 0 data segment; a null selector is fine (unusable).
  setSeg(cpu, Seg.CS, SEL.UCODE32, 0xc0fb);
  setSeg(cpu, Seg.SS, SEL.UDATA, 0xc0f3);
  cpu.updateMode();
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.DS, SEL.DATA0)), [Vector.GP, SEL.DATA0]);
  loadSegment(cpu, Seg.DS, 0);
  assert.equal(cpu.seg[Seg.DS]!.attr, 0);
});

void test('segments: far JMP target checks; call gates are reported as unsupported', () => {
  const { bus, cpu } = protected32();
  assert.deepEqual(fault(() => loadCsForJump(cpu, SEL.DATA0)), [Vector.GP, SEL.DATA0]);
  assert.deepEqual(fault(() => loadCsForJump(cpu, 0)), [Vector.GP, 0]);
  assert.deepEqual(fault(() => loadCsForJump(cpu, SEL.UCODE32)), [Vector.GP, SEL.UCODE32 & ~3]);
  loadCsForJump(cpu, SEL.CODE16);
  assert.equal(cpu.mode, CpuMode.Protected16);
  // A call gate (type 12).
  bus.w32(GDT_BASE + 0x58, 0x00080000);
  bus.w32(GDT_BASE + 0x5c, 0x00008c00);
  assert.throws(() => loadCsForJump(cpu, 0x58), UnsupportedSystemFeatureError);
});

void test('segments: LLDT loads the LDT, and LDT selectors then resolve through it', () => {
  const { bus, cpu } = protected32();
  const [lo, hi] = segDescriptor(0x4000, 0x17, 0x0082);
  bus.w64(GDT_BASE + 0x58, lo, hi);
  loadLdt(cpu, 0x58);
  assert.equal(cpu.ldtr.base, 0x4000);
  const [dlo, dhi] = segDescriptor(0x9000, 0xfff, 0x0093);
  bus.w64(0x4008, dlo, dhi);
  loadSegment(cpu, Seg.FS, 0x0c); // index 1, TI = 1
  assert.equal(cpu.seg[Seg.FS]!.base, 0x9000);
  assert.deepEqual(fault(() => loadSegment(cpu, Seg.FS, 0x1c)), [Vector.GP, 0x1c]);
});
