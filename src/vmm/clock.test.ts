import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MachineClock, type InstructionCounter } from './clock.js';

test('guest time counts the running vCPU\'s instructions and stalls, and keeps them after the quantum', () => {
  const clock = new MachineClock();
  const cpu: InstructionCounter = { instructionCount: 1000, stallNs: 500 };
  clock.beginQuantum(cpu);
  assert.equal(clock.nowNs(), 0);
  cpu.instructionCount += 10;
  cpu.stallNs += 140;
  assert.equal(clock.nowNs(), 150);
  const n = clock.endQuantum();
  assert.equal(n, 10);
  clock.advanceBy(n * clock.nsPerInstruction);
  assert.equal(clock.nowNs(), 150, 'the stall stays in guest time once the quantum ends');
});

test('time is monotonic across vCPUs taking turns, and timers fire once their deadline has passed', () => {
  const clock = new MachineClock();
  const a: InstructionCounter = { instructionCount: 0, stallNs: 0 };
  const b: InstructionCounter = { instructionCount: 7, stallNs: 9999 };
  const fired: number[] = [];
  clock.setTimer(300, () => fired.push(clock.nowNs()));
  let last = -1;
  for (const [cpu, insns, stall] of [[a, 100, 0], [b, 50, 140], [a, 10, 280]] as const) {
    clock.beginQuantum(cpu);
    cpu.instructionCount += insns;
    cpu.stallNs += stall;
    assert.ok(clock.nowNs() >= last);
    last = clock.nowNs();
    clock.advanceBy(clock.endQuantum() * clock.nsPerInstruction);
    assert.equal(clock.nowNs(), last);
    clock.runDue();
  }
  assert.equal(clock.nowNs(), 100 + 50 + 140 + 10 + 280);
  assert.deepEqual(fired, [580]);
});
