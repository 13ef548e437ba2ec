// The KVM engine's exit path on a real /dev/kvm, both ways a 1-vCPU machine can run: a burst of
// reads through the vCPU worker and the main thread's ExitServer (kvm-exit-server.ts), or in the
// main thread's own KVM_RUN loop (kvm-main-thread.ts); then an idle guest, which must not keep a
// host CPU busy (the server's polling is adaptive; the main-thread loop is woken every few ms).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeKvm } from './accel.js';
import { KvmMachine } from './kvm-engine.js';
import { tinyKernel } from './testing/tiny-kernels.js';

const kvm = probeKvm();
const noKvm = kvm.usable ? false : `KVM is not usable here: ${kvm.detail}`;

const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const READS = 20_000;
/**
 * mov ecx, READS; mov dx, 0x3ff; 1: mov al, cl; out dx, al; in al, dx; cmp al, cl; jne 2f;
 * dec ecx; jnz 1b; mov dx, 0x3f8; mov al, 'I'; out dx, al; 3: cli; hlt; jmp 3b; 2: mov al, 'X' ...
 * Each round writes the UART scratch register (a posted write) and reads it back (a round trip):
 * the read must see the write. Then 'I' on COM1 and an idle HLT with interrupts off.
 */
const BURST_THEN_IDLE = [
  0xb9, ...le32(READS), // mov ecx, READS
  0x66, 0xba, 0xff, 0x03, // mov dx, 0x3ff (COM1 scratch)
  0x88, 0xc8, // 1: mov al, cl
  0xee, // out dx, al
  0xec, // in al, dx
  0x38, 0xc8, // cmp al, cl
  0x75, 0x0f, // jne 2f
  0xff, 0xc9, // dec ecx
  0x75, 0xf4, // jnz 1b
  0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
  0xb0, 0x49, // mov al, 'I'
  0xee, // out dx, al
  0xfa, 0xf4, // 3: cli; hlt
  0xeb, 0xfc, // jmp 3b
  0x66, 0xba, 0xf8, 0x03, // 2: mov dx, 0x3f8
  0xb0, 0x58, // mov al, 'X'
  0xee, // out dx, al
  0xfa, 0xf4, 0xeb, 0xfc, // cli; hlt; jmp $-2
];

for (const vcpuThread of ['worker', 'main'] as const) test(`KVM (vCPU thread: ${vcpuThread}): a burst of write/read round trips, then an idle guest uses next to no host CPU`, { skip: noKvm }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-kvm-exits-'));
  const kernelPath = join(dir, 'burst.bin');
  writeFileSync(kernelPath, tinyKernel(BURST_THEN_IDLE));
  let out = '';
  const m = new KvmMachine({ kernelPath, cmdline: '', cpuCount: 1, memSizeMib: 64, accel: 'kvm', reboot: false }, {
    onSerialOutput: (b) => { out += Buffer.from(b).toString('latin1'); },
  }, { vcpuThread });
  try {
    m.loadKernel();
    const running = m.run();
    while (out === '') await sleep(10);
    assert.equal(out, 'I', 'every read saw the write before it');
    await sleep(50);
    const cpu0 = process.cpuUsage();
    const idleMs = 500;
    await sleep(idleMs);
    const cpu = process.cpuUsage(cpu0);
    m.stop({ kind: 'quit' });
    assert.deepEqual(await running, { kind: 'quit' });
    // CPU time of the whole process (main thread and vCPU worker), not elapsed time: a thread that
    // kept polling would use about idleMs of it.
    const usedMs = (cpu.user + cpu.system) / 1000;
    t.diagnostic(`${usedMs.toFixed(1)} ms of CPU in ${idleMs} ms of idleness; ${m.stats()}`);
    assert.ok(usedMs < idleMs / 5, `${usedMs.toFixed(0)} ms of CPU in ${idleMs} ms of an idle guest`);
    assert.match(m.stats(), new RegExp(`${2 * READS + 1} PIO exits`));
  } finally {
    m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
