// Shared by the bench/jit scripts: runs a CPU from a driver loop until it halts.

/**
 * Starts the driver at `code` with R15 = `iterations` (the driver decrements it) and a stack at
 * `stack`, runs until HLT and returns the instructions executed and the host seconds taken.
 */
export function runToHalt(cpu, code, stack, iterations) {
  cpu.gpr[30] = iterations; cpu.gpr[31] = 0; cpu.gpr[8] = stack; cpu.gpr[9] = 0; cpu.rip = code; cpu.halted = false;
  const i0 = cpu.instructionCount; const t0 = process.hrtime.bigint();
  for (;;) {
    const e = cpu.run(200000);
    if (e.kind === 'budget') continue;
    if (e.kind !== 'halt') throw new Error(JSON.stringify(e));
    break;
  }
  return { insns: cpu.instructionCount - i0, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}
