import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CpuBus } from '../cpu/bus.js';
import { GuestProfiler, ripHex, type GuestProfile, type ProfiledCpu } from './guest-profiler.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-profiler-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('fromEnv is off without TSHV_PROFILE and reads the period and marker', () => {
  assert.equal(GuestProfiler.fromEnv({}, 'ready'), undefined);
  const p = GuestProfiler.fromEnv({ TSHV_PROFILE: '/x.json', TSHV_PROFILE_EVERY: '1000' }, 'ready');
  assert.equal(p?.sampleEveryInsns, 1000);
  assert.equal(GuestProfiler.fromEnv({ TSHV_PROFILE: '/x.json', TSHV_PROFILE_EVERY: 'junk' }, 'ready')?.sampleEveryInsns, 4096);
});

test('ripHex writes kernel (negative) addresses as 64-bit two\'s complement', () => {
  assert.equal(ripHex(0x1000), '0000000000001000');
  assert.equal(ripHex(-0x7f000000), 'ffffffff81000000');
});

test('samples, I/O counts and HLTs are written once, when the marker appears on the console', () => withDir((dir) => {
  const outPath = join(dir, 'p.json');
  const profiler = new GuestProfiler({ outPath, sampleEveryInsns: 100, untilText: 'tshv-guest: ready' });
  const cpu: ProfiledCpu = { cpuIndex: 0, rip: -0x7f000000, instructionCount: 0, pauseCount: 0 };
  let seen = '';
  const io = profiler.wrapIo({ onSerialOutput: (b) => { seen += Buffer.from(b).toString('latin1'); } },
    () => ({ cpus: [cpu], guestTimeNs: 1234 }));
  const inner: CpuBus = {
    ram: new Uint8Array(16), ramOffset: () => -1,
    mmioRead: () => 7, mmioWrite: () => undefined, pioRead: () => 0x60, pioWrite: () => undefined,
  };
  const bus = profiler.wrapBus(inner);
  cpu.instructionCount = 100; cpu.pauseCount = 3;
  profiler.sample(cpu, 100, { kind: 'budget' });
  cpu.rip = 0x401000; cpu.instructionCount = 150;
  profiler.sample(cpu, 50, { kind: 'halt' });
  profiler.idleSkipped(5000);
  assert.equal(bus.pioRead(0x3fd, 1), 0x60);
  bus.pioRead(0x3fd, 1);
  bus.pioWrite(0x3f8, 1, 65);
  assert.equal(bus.mmioRead(0xfee00030, 4), 7);
  io.onSerialOutput(new TextEncoder().encode('boot...\ntshv-guest: re'));
  assert.equal(existsSync(outPath), false);
  io.onSerialOutput(new TextEncoder().encode('ady\n'));
  assert.equal(seen, 'boot...\ntshv-guest: ready\n', 'output still reaches the console');
  const p = JSON.parse(readFileSync(outPath, 'utf8')) as GuestProfile;
  assert.equal(p.reachedUntil, true);
  assert.equal(p.instructions, 150);
  assert.equal(p.guestTimeNs, 1234);
  assert.equal(p.idleSkippedNs, 5000);
  assert.deepEqual(p.ripWeights, { ffffffff81000000: 100, '0000000000401000': 50 });
  assert.equal(p.pauses, 3);
  assert.equal(p.halts, 1);
  assert.deepEqual(p.pio, { '0x3fd r': 2, '0x3f8 w': 1 });
  assert.deepEqual(p.mmio, { '0xfee00000 r': 1 });
  // Later activity and finish() change nothing.
  profiler.sample(cpu, 100, { kind: 'budget' });
  profiler.finish([cpu], 9999);
  assert.equal((JSON.parse(readFileSync(outPath, 'utf8')) as GuestProfile).guestTimeNs, 1234);
}));

test('chain stops: counted from the first sample after the start marker into the profile, then no more', () => withDir((dir) => {
  const outPath = join(dir, 'p.json');
  const profiler = new GuestProfiler({ outPath, sampleEveryInsns: 100, untilText: 'end', afterText: 'begin' });
  const cpu: ProfiledCpu = { cpuIndex: 0, rip: 0x1000, instructionCount: 10, pauseCount: 0, chainStops: null };
  const io = profiler.wrapIo({ onSerialOutput: () => undefined }, () => ({ cpus: [cpu], guestTimeNs: 0 }));
  profiler.sample(cpu, 10, undefined);
  assert.equal(cpu.chainStops, null, 'not before the start marker');
  io.onSerialOutput(new TextEncoder().encode('begin\n'));
  profiler.sample(cpu, 10, undefined);
  const attached = (cpu as { chainStops?: Map<string, number> | null }).chainStops;
  assert.ok(attached instanceof Map);
  attached.set('mid ffffffff81000010 0:89', 3); // as Cpu.countChainStop counts
  io.onSerialOutput(new TextEncoder().encode('end\n'));
  assert.equal((cpu as { chainStops?: Map<string, number> | null }).chainStops, null, 'detached once written');
  const p = JSON.parse(readFileSync(outPath, 'utf8')) as GuestProfile;
  assert.deepEqual(p.chainStops, { 'mid ffffffff81000010 0:89': 3 });
}));

test('finish() writes the whole run when the marker never appeared', () => withDir((dir) => {
  const outPath = join(dir, 'p.json');
  const profiler = new GuestProfiler({ outPath, sampleEveryInsns: 100, untilText: 'never' });
  const cpu: ProfiledCpu = { cpuIndex: 0, rip: 0x1000, instructionCount: 10, pauseCount: 0 };
  profiler.sample(cpu, 10, undefined);
  profiler.finish([cpu], 10);
  const p = JSON.parse(readFileSync(outPath, 'utf8')) as GuestProfile;
  assert.equal(p.reachedUntil, false);
  assert.deepEqual(p.ripWeights, { '0000000000001000': 10 });
}));

test('the stack scan counts kernel text addresses above RSP once per sample', () => withDir((dir) => {
  const outPath = join(dir, 'p.json');
  const profiler = new GuestProfiler({ outPath, sampleEveryInsns: 100, untilText: 'never', stackWords: 4 });
  const gpr = new Uint32Array(32);
  gpr[8] = 0xc9000f00; gpr[9] = 0xffffc900; // a kernel stack address
  const words = new Map<number, [number, number]>();
  const rsp = (gpr[9] | 0) * 4294967296 + gpr[8];
  words.set(rsp, [0x81234567, 0xffffffff]); // return address in kernel text
  words.set(rsp + 8, [0x12345678, 0]); // data
  words.set(rsp + 16, [0x81234567, 0xffffffff]); // same address again: counted once
  const cpu: ProfiledCpu & { hi: number; cr2: number } = {
    cpuIndex: 0, rip: -0x7f000000, instructionCount: 10, pauseCount: 0, gpr, hi: 0, cr2: 0x5000,
    readSystem64(lin: number): number {
      const w = words.get(lin);
      if (w === undefined) { this.cr2 = lin; throw new Error('not mapped'); } // as the MMU's #PF
      this.hi = w[1];
      return w[0];
    },
  };
  profiler.sample(cpu, 10, { kind: 'budget' });
  assert.equal(cpu.cr2, 0x5000, 'the scan\'s fault at the end of the stack is not the guest\'s');
  profiler.finish([cpu], 10);
  const p = JSON.parse(readFileSync(outPath, 'utf8')) as GuestProfile;
  assert.deepEqual(p.stackWeights, { ffffffff81234567: 10 });
}));

test('with afterText, sampling starts at that marker and the figures cover only what follows', () => withDir((dir) => {
  const outPath = join(dir, 'p.json');
  const profiler = new GuestProfiler({ outPath, sampleEveryInsns: 100, untilText: 'bench-end', afterText: 'bench-begin' });
  const cpu: ProfiledCpu = { cpuIndex: 0, rip: 0x1000, instructionCount: 0, pauseCount: 0 };
  let guestTimeNs = 0;
  const io = profiler.wrapIo({ onSerialOutput: () => undefined }, () => ({ cpus: [cpu], guestTimeNs }));
  const bus = profiler.wrapBus({ ram: new Uint8Array(16), ramOffset: () => -1, mmioRead: () => 0, mmioWrite: () => undefined, pioRead: () => 0, pioWrite: () => undefined });
  // Before the marker: nothing is counted (the end marker text alone does not end it either).
  cpu.instructionCount = 500; cpu.pauseCount = 2; guestTimeNs = 700;
  profiler.sample(cpu, 500, { kind: 'halt' });
  bus.pioRead(0x60, 1);
  io.onSerialOutput(new TextEncoder().encode('bench-end\nbench-beg'));
  io.onSerialOutput(new TextEncoder().encode('in\n'));
  assert.equal(existsSync(outPath), false);
  cpu.rip = 0x2000; cpu.instructionCount = 530; cpu.pauseCount = 3; guestTimeNs = 1000;
  profiler.sample(cpu, 30, { kind: 'budget' });
  bus.pioRead(0x61, 1);
  io.onSerialOutput(new TextEncoder().encode('work\nbench-end\n'));
  const p = JSON.parse(readFileSync(outPath, 'utf8')) as GuestProfile;
  assert.equal(p.afterText, 'bench-begin');
  assert.equal(p.instructions, 30);
  assert.equal(p.guestTimeNs, 300);
  assert.equal(p.pauses, 1);
  assert.equal(p.halts, 0);
  assert.deepEqual(p.ripWeights, { '0000000000002000': 30 });
  assert.deepEqual(p.pio, { '0x61 r': 1 });
}));
