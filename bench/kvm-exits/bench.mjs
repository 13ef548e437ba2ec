#!/usr/bin/env node
// bench/kvm-exits (issue 3, deliverable 7): PIO and MMIO exit round trips per second on /dev/kvm,
// tshv against a C reference (exits.c, compiled here with gcc), in one run, with the ratio.
//
// Three figures per exit kind:
//   C reference   exits.c: KVM_RUN in a loop, a trivial device in the same thread, a 16-bit
//                 real-mode guest on a bare VM (compared with "tshv loop").
//   C 64-bit      exits.c with the engine's guest code and VM: long mode, in-kernel irqchip and
//                 PIT (each costs on every exit). The engine figures give both ratios.
//   tshv loop     the same guest and loop through tshv's koffi KVM layer (VcpuFd.runRaw, the
//                 kvm_run page read through a DataView) with the access dispatched to tshv's
//                 PioBus/MmioBus: the cost of doing KVM from JavaScript.
//   tshv engine   the whole KVM engine (KvmMachine): a guest doing N accesses to the POST port /
//                 an unassigned MMIO address. Timed as t(N) - t(0) to drop the machine start-up.
//                 Two ways (vcpuThread, kvm-main-thread.ts):
//     main        what a 1-vCPU machine uses: KVM_RUN on the main thread, each exit a direct call
//                 to the devices, the loop yielding to the event loop every ≤ 2 ms.
//     worker      what several vCPUs use: each exit goes from the vCPU worker thread to the
//                 devices on the main thread (SharedArrayBuffer + Atomics): reads are a synchronous
//                 round trip, writes are posted (queued, the vCPU goes on at once). For reads, the
//                 engine's account of how they were answered follows (polled or slept; whether
//                 the main thread polled, and why: kvm-exit-server.ts).
//   idle          CPU time the whole process uses while a 1-vCPU guest sits in HLT, both ways.
// Modes: pio-out, pio-in, mmio-write, mmio-read.
//
// usage: node bench/kvm-exits/bench.mjs [--count N] [--dist DIR]   (DIR: the compiled project, default dist/)

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = new URL('../..', import.meta.url).pathname;
const { values } = parseArgs({ options: { count: { type: 'string', default: '100000' }, dist: { type: 'string', default: join(ROOT, 'dist') } } });
const COUNT = Number(values.count);
const dist = resolve(values.dist);
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { Kvm } = await load('kvm/kvm.js');
const { KVM_EXIT } = await load('kvm/ioctls.js');
const { allocateGuestMemory } = await load('memory/allocate.js');
const { PioBus, MmioBus } = await load('devices/bus.js');
const { KvmMachine } = await load('vmm/kvm-engine.js');
const { tinyKernel } = await load('vmm/testing/tiny-kernels.js');

const tmp = mkdtempSync(join(tmpdir(), 'tshv-kvm-exits-'));

// --- C reference ---
const exe = join(tmp, 'exits');
const cc = spawnSync('gcc', ['-O2', '-o', exe, join(ROOT, 'bench/kvm-exits/exits.c')], { stdio: 'inherit' });
if (cc.status !== 0) throw new Error('gcc failed to build bench/kvm-exits/exits.c');
function cRef(mode, bits = 16) {
  const r = spawnSync(exe, [mode, String(COUNT), ...(bits === 64 ? ['64'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`exits ${mode} failed: ${r.stderr}`);
  return Number(r.stdout.trim().split(/\s+/)[3]);
}

// --- tshv loop: the same real-mode guest through tshv's KVM layer ---
const LOOP_CODE = {
  'pio-out': [0xe6, 0x80, 0xeb, 0xfc], // out 0x80, al; jmp $-2
  'pio-in': [0xe4, 0x80, 0xeb, 0xfc], // in al, 0x80; jmp $-2
  'mmio-write': [0xa2, 0x00, 0x80, 0xeb, 0xfb], // mov [0x8000], al; jmp $-3
  'mmio-read': [0xa0, 0x00, 0x80, 0xeb, 0xfb], // mov al, [0x8000]; jmp $-3
};
function tshvLoop(mode) {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  // 16 MiB of RAM, but only the first 32 KiB registered: 0x8000 is then MMIO, as in exits.c.
  const ram = allocateGuestMemory(16, 0xc0000000, 0x100000000);
  let sink = 0;
  const pio = new PioBus();
  pio.register(0x80, 1, { pioRead: () => { sink++; return 0x5a; }, pioWrite: (_o, _s, v) => { sink += v; } }, 'post');
  const mmio = new MmioBus();
  mmio.register(0x8000, 0x1000, { mmioRead: () => { sink++; return 0x5a; }, mmioWrite: (_o, _s, v) => { sink += v; } }, 'dev');
  try {
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0x8000n, userspaceAddr: ram.mapping.address });
    ram.memory.write(0x1000, Uint8Array.from(LOOP_CODE[mode]));
    const vcpu = vm.createVcpu(0);
    const s = vcpu.getSregs();
    s.cs.base = 0n; s.cs.selector = 0; s.ds.base = 0n; s.ds.selector = 0;
    vcpu.setSregs(s);
    const r = vcpu.getRegs();
    r.rip = 0x1000n; r.rflags = 2n; r.rax = 0x42n;
    vcpu.setRegs(r);
    const page = vcpu.run.bytes;
    const view = vcpu.run.view;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < COUNT; i++) {
      if (vcpu.runRaw() < 0) throw new Error('KVM_RUN failed');
      const reason = view.getUint32(8, true);
      if (reason === KVM_EXIT.IO) {
        const off = view.getUint32(40, true);
        if (page[32] === 1) pio.pioWrite(view.getUint16(34, true), page[33], page[off]);
        else page[off] = pio.pioRead(view.getUint16(34, true), page[33]);
      } else if (reason === KVM_EXIT.MMIO) {
        if (page[52] !== 0) mmio.mmioWrite(view.getUint32(32, true), view.getUint32(48, true), page[40]);
        else page[40] = mmio.mmioRead(view.getUint32(32, true), view.getUint32(48, true));
      } else throw new Error(`unexpected exit ${reason}`);
    }
    const s1 = Number(process.hrtime.bigint() - t0) / 1e9;
    vcpu.dispose();
    if (sink === 0) throw new Error('no device saw the guest');
    return COUNT / s1;
  } finally {
    vm.dispose();
    kvm.dispose();
    ram.dispose();
  }
}

// --- tshv engine: the full KvmMachine path ---
const le32 = (n) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const POWEROFF = [0x66, 0xba, 0x04, 0x06, 0x66, 0xb8, 0x00, 0x34, 0x66, 0xef, 0xf4];
// mov ecx, n; mov al, 0x42; mov ebx, 0xd0000000 (unassigned MMIO); 1: <access>; dec ecx; jnz 1b; power off
const ENGINE_ACCESS = {
  'pio-out': [0xe6, 0x80], // out 0x80, al (the POST code port)
  'pio-in': [0xe4, 0x80], // in al, 0x80
  'mmio-write': [0x88, 0x03], // mov [rbx], al
  'mmio-read': [0x8a, 0x03], // mov al, [rbx]
};
function engineGuest(mode, n) {
  if (n === 0) return [...POWEROFF];
  return [0xb9, ...le32(n), 0xb0, 0x42, 0xbb, ...le32(0xd0000000), ...ENGINE_ACCESS[mode], 0xff, 0xc9, 0x75, 0xfa, ...POWEROFF];
}
let lastEngineStats = '';
async function engineRun(mode, n, vcpuThread) {
  const kernelPath = join(tmp, `engine-${mode}-${n}.bin`);
  writeFileSync(kernelPath, tinyKernel(engineGuest(mode, n)));
  const m = new KvmMachine({ kernelPath, cmdline: '', cpuCount: 1, memSizeMib: 64, accel: 'kvm', reboot: false }, { onSerialOutput: () => undefined },
    { vcpuThread });
  try {
    m.loadKernel();
    const t0 = process.hrtime.bigint();
    const exit = await m.run();
    if (exit.kind !== 'poweroff') throw new Error(`engine run ended with ${JSON.stringify(exit)}`);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (n > 0) lastEngineStats = m.stats().replace(/^.*?; /, '');
    return seconds;
  } finally {
    m.dispose();
  }
}
async function tshvEngine(mode, vcpuThread) {
  const base = Math.min(await engineRun(mode, 0, vcpuThread), await engineRun(mode, 0, vcpuThread));
  const full = await engineRun(mode, COUNT, vcpuThread);
  return COUNT / Math.max(full - base, 1e-9);
}

// cli; hlt; jmp $-2: halted for good (the periodic kicks of the main-thread loop still come).
const IDLE_GUEST = [0xfa, 0xf4, 0xeb, 0xfc];
async function idleCpu(vcpuThread, idleMs = 1000) {
  const kernelPath = join(tmp, 'idle.bin');
  writeFileSync(kernelPath, tinyKernel(IDLE_GUEST));
  const m = new KvmMachine({ kernelPath, cmdline: '', cpuCount: 1, memSizeMib: 64, accel: 'kvm', reboot: false }, { onSerialOutput: () => undefined },
    { vcpuThread });
  try {
    m.loadKernel();
    const running = m.run();
    await new Promise((r) => setTimeout(r, 200));
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, idleMs));
    const cpu = process.cpuUsage(cpu0);
    m.stop({ kind: 'quit' });
    await running;
    return (cpu.user + cpu.system) / 1000 / idleMs;
  } finally {
    m.dispose();
  }
}

const fmt = (r) => `${(r / 1000).toFixed(1)} k/s (${(1e6 / r).toFixed(2)} µs/exit)`;
console.log(`kvm-exits: ${COUNT} exits per measurement`);
for (const mode of ['pio-out', 'pio-in', 'mmio-write', 'mmio-read']) {
  // Interleaved so that host noise hits all of them alike.
  const c = cRef(mode);
  const c64 = cRef(mode, 64);
  const l = tshvLoop(mode);
  const e = await tshvEngine(mode, 'main');
  const w = await tshvEngine(mode, 'worker');
  const workerStats = lastEngineStats;
  const c64b = cRef(mode, 64);
  const c2 = cRef(mode);
  const cAvg = (c + c2) / 2;
  const c64Avg = (c64 + c64b) / 2;
  console.log(`${mode.padEnd(10)} C reference ${fmt(cAvg)}`);
  console.log(`${mode.padEnd(10)} tshv loop   ${fmt(l)}  ratio (time per exit, tshv/C) ${(cAvg / l).toFixed(2)}x`);
  console.log(`${mode.padEnd(10)} C 64-bit    ${fmt(c64Avg)}`);
  const ratios = (r) => `ratio (time per exit, tshv/C) ${(cAvg / r).toFixed(2)}x, tshv/C 64-bit ${(c64Avg / r).toFixed(2)}x`;
  console.log(`${mode.padEnd(10)} tshv engine ${fmt(e)}  ${ratios(e)}  (1 vCPU: KVM_RUN on the main thread)`);
  console.log(`${mode.padEnd(10)} tshv worker ${fmt(w)}  ${ratios(w)}  (KVM_RUN in a worker thread)`);
  if (mode.endsWith('in') || mode.endsWith('read')) console.log(`${''.padEnd(10)}   (worker: ${workerStats})`);
}
const idleMain = await idleCpu('main');
const idleWorker = await idleCpu('worker');
console.log(`idle       CPU use of a halted 1-vCPU guest: main thread ${(idleMain * 100).toFixed(1)}%, worker ${(idleWorker * 100).toFixed(1)}% of one host CPU`);
