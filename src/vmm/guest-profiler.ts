// Where the guest spends its instructions (soft engine only): with TSHV_PROFILE=<file.json> the
// run loop cuts quanta to `sampleEveryInsns` instructions and records the RIP each quantum ends at,
// weighted by the instructions it ran, plus counts of port I/O by port, MMIO by page, PAUSE and
// HLT, and where the soft CPU's wasm chains returned to its run loop (Cpu.chainStops). The
// profile is written once, when the guest's serial output first contains `untilText` (default:
// the readiness line), or at the end of the run. scripts/guest-profile.mjs maps the RIPs
// to kernel symbols (System.map) and prints the tables. Off (no TSHV_PROFILE), nothing of this
// runs: the machine holds no profiler and the CPU bus is not wrapped.

import { renameSync, writeFileSync } from 'node:fs';
import type { CpuBus } from '../cpu/bus.js';
import type { RunExit } from '../cpu/cpu.js';
import type { MachineIo } from './engine.js';

export interface GuestProfilerOptions {
  outPath: string;
  /** Quantum length while profiling; the sampling period. */
  sampleEveryInsns: number;
  /** The profile is written when the serial output first contains this. */
  untilText: string;
  /**
   * Sampling starts when the serial output first contains this (after it, untilText is looked for
   * in the output that follows); undefined: from the first instruction. For one phase of a run,
   * such as a benchmark's, between two marker lines.
   */
  afterText?: string | undefined;
  /**
   * Also scan this many stack words above RSP at each sample for kernel text addresses (return
   * addresses, and stale words: a heuristic "inside which callers" view); 0: off.
   */
  stackWords?: number;
}

/** What one sample needs of a vCPU. */
export interface ProfiledCpu {
  readonly cpuIndex: number;
  rip: number;
  instructionCount: number;
  pauseCount: number;
  /** For stack scans: RSP is gpr[8] (low) and gpr[9] (high). */
  readonly gpr?: Uint32Array;
  /** Reads 8 bytes as the kernel would (low half returned, high half in `hi`); may throw. */
  readSystem64?(lin: number): number;
  hi?: number;
  /** Set by a read that page-faults: the scan puts it back (the guest must not see its faults). */
  cr2?: number;
  /** Where wasm chains returned to the run loop (soft CPU with the wasm tier; Cpu.chainStops). */
  chainStops?: Map<string, number> | null;
}

/** The JSON written to `outPath` (read by scripts/guest-profile.mjs). */
export interface GuestProfile {
  version: 1;
  sampleEveryInsns: number;
  /** Whether untilText was seen (false: the run ended first). */
  reachedUntil: boolean;
  untilText: string;
  /** Where sampling started (absent: at the first instruction). */
  afterText?: string | undefined;
  /** Instructions in the sampled span (from afterText, if any). */
  instructions: number;
  guestTimeNs: number;
  /** Guest time skipped while every vCPU was halted (jumps to the next timer). */
  idleSkippedNs: number;
  /** Instructions by the RIP (hex string) at which a quantum ended. */
  ripWeights: Record<string, number>;
  /** Instructions by kernel text address found on the stack at sample time (once per sample). */
  stackWeights: Record<string, number>;
  pauses: number;
  /** Quanta that ended in HLT (a vCPU going idle). */
  halts: number;
  /** Port accesses: "0x3f8 r" -> count. */
  pio: Record<string, number>;
  /** MMIO accesses by 4 KiB page: "0xfee00000 w" -> count. */
  mmio: Record<string, number>;
  /**
   * Returns of wasm chains to the run loop by where they stopped (Cpu.chainStops): "mid <rip>
   * <map>:<opcode>", "end <rip>", "end <rip> budget", "helper <rip>", "fault <rip> <map>:<opcode>"
   * -> count. Sample with a long period (TSHV_PROFILE_EVERY): each quantum the profiler cuts ends
   * a chain too.
   */
  chainStops: Record<string, number>;
}

export class GuestProfiler {
  readonly sampleEveryInsns: number;
  private readonly outPath: string;
  private readonly untilText: string;
  private readonly afterText: string | undefined;
  /** Whether samples are being taken: from the start, or once afterText was seen. */
  private started: boolean;
  /** Figures at the start of sampling, subtracted from those at the end. */
  private baseInstructions = 0;
  private baseGuestTimeNs = 0;
  private basePauses = 0;
  private readonly ripWeights = new Map<number, number>();
  private readonly stackWeights = new Map<number, number>();
  private readonly stackWords: number;
  private readonly pio = new Map<string, number>();
  private readonly mmio = new Map<string, number>();
  private readonly chainStops = new Map<string, number>();
  private halts = 0;
  private idleSkippedNs = 0;
  private tail = '';
  private written = false;

  constructor(options: GuestProfilerOptions) {
    this.outPath = options.outPath;
    this.sampleEveryInsns = options.sampleEveryInsns;
    this.untilText = options.untilText;
    this.afterText = options.afterText === '' ? undefined : options.afterText;
    this.started = this.afterText === undefined;
    this.stackWords = options.stackWords ?? 0;
  }

  /** The profiler from TSHV_PROFILE / _EVERY / _UNTIL / _AFTER / _STACK, or undefined. */
  static fromEnv(env: NodeJS.ProcessEnv, defaultUntil: string): GuestProfiler | undefined {
    const outPath = env['TSHV_PROFILE'];
    if (outPath === undefined || outPath === '') return undefined;
    const every = Number(env['TSHV_PROFILE_EVERY'] ?? '4096');
    return new GuestProfiler({
      outPath,
      sampleEveryInsns: Number.isInteger(every) && every >= 16 ? every : 4096,
      untilText: env['TSHV_PROFILE_UNTIL'] ?? defaultUntil,
      afterText: env['TSHV_PROFILE_AFTER'],
      stackWords: Math.max(0, Math.min(256, Number(env['TSHV_PROFILE_STACK'] ?? '0') || 0)),
    });
  }

  /** A quantum of `executed` instructions ended on `cpu` with `exit`. */
  sample(cpu: ProfiledCpu, executed: number, exit: RunExit | undefined): void {
    if (!this.started) return;
    if (exit?.kind === 'halt') this.halts++;
    if (executed === 0 || this.written) return;
    // Chain stops are counted from the first quantum sampled (the one that saw afterText ran before).
    if (cpu.chainStops === null) cpu.chainStops = this.chainStops;
    this.ripWeights.set(cpu.rip, (this.ripWeights.get(cpu.rip) ?? 0) + executed);
    if (this.stackWords > 0) this.scanStack(cpu, executed);
  }

  private scanStack(cpu: ProfiledCpu, executed: number): void {
    const g = cpu.gpr;
    const read = cpu.readSystem64?.bind(cpu);
    if (g === undefined || read === undefined) return;
    const rsp = (g[9]! | 0) * 4294967296 + g[8]!;
    if (rsp >= 0) return; // user mode stack: kernel callers only
    const seen = new Set<number>();
    const cr2 = cpu.cr2;
    try {
      for (let k = 0; k < this.stackWords; k++) {
        const lo = read(rsp + 8 * k);
        const hi = cpu.hi ?? 0;
        // Kernel text and modules: 0xffffffff80000000 and up (-2 GiB .. 0).
        if ((hi | 0) !== -1 || lo < 0x80000000) continue;
        const addr = -1 * 4294967296 + lo;
        if (seen.has(addr)) continue;
        seen.add(addr);
        this.stackWeights.set(addr, (this.stackWeights.get(addr) ?? 0) + executed);
      }
    } catch {
      // End of the mapped stack: keep what was read. The MMU set CR2 for the fault; a sample
      // between a #PF's delivery and the handler's read of CR2 would change the fault the guest
      // handles (stop 27: Cpu.lookupBlock did that).
      if (cr2 !== undefined) cpu.cr2 = cr2;
    }
  }

  /** Guest time jumped over an idle period. */
  idleSkipped(ns: number): void {
    if (this.started && !this.written && ns > 0) this.idleSkippedNs += ns;
  }

  /** The CPU bus with every port and MMIO access counted. */
  wrapBus(bus: CpuBus): CpuBus {
    const count = (m: Map<string, number>, key: string): void => {
      if (this.started && !this.written) m.set(key, (m.get(key) ?? 0) + 1);
    };
    const hex = (n: number): string => `0x${n.toString(16)}`;
    const page = (pa: number): string => hex(pa - (pa % 4096));
    return {
      ram: bus.ram,
      ramOffset: (pa) => bus.ramOffset(pa),
      mmioRead: (pa, size) => { count(this.mmio, `${page(pa)} r`); return bus.mmioRead(pa, size); },
      mmioWrite: (pa, size, value) => { count(this.mmio, `${page(pa)} w`); bus.mmioWrite(pa, size, value); },
      pioRead: (port, size) => { count(this.pio, `${hex(port)} r`); return bus.pioRead(port, size); },
      pioWrite: (port, size, value) => { count(this.pio, `${hex(port)} w`); bus.pioWrite(port, size, value); },
    };
  }

  /**
   * The machine's I/O with serial output watched for untilText; `snapshot` gives the figures to
   * write at that moment.
   */
  wrapIo(io: MachineIo, snapshot: () => { cpus: readonly ProfiledCpu[]; guestTimeNs: number }): MachineIo {
    const decoder = new TextDecoder();
    return {
      ...io,
      onSerialOutput: (bytes) => {
        if (!this.written) {
          const marker = this.started ? this.untilText : (this.afterText as string);
          this.tail = (this.tail + decoder.decode(bytes, { stream: true })).slice(-4 * marker.length - 256);
          if (!this.started) {
            const at = this.tail.indexOf(marker);
            if (at >= 0) {
              const s = snapshot();
              this.started = true;
              this.baseInstructions = s.cpus.reduce((n, c) => n + c.instructionCount, 0);
              this.basePauses = s.cpus.reduce((n, c) => n + c.pauseCount, 0);
              this.baseGuestTimeNs = s.guestTimeNs;
              this.tail = this.tail.slice(at + marker.length);
            }
          } else if (this.tail.includes(this.untilText)) {
            const s = snapshot();
            this.write(s.cpus, s.guestTimeNs, true);
          }
        }
        io.onSerialOutput(bytes);
      },
    };
  }

  /** Writes the profile unless already written (untilText seen). */
  finish(cpus: readonly ProfiledCpu[], guestTimeNs: number): void {
    if (!this.written) this.write(cpus, guestTimeNs, false);
  }

  private write(cpus: readonly ProfiledCpu[], guestTimeNs: number, reachedUntil: boolean): void {
    this.written = true;
    for (const c of cpus) if (c.chainStops !== undefined) c.chainStops = null;
    const profile: GuestProfile = {
      version: 1,
      sampleEveryInsns: this.sampleEveryInsns,
      reachedUntil,
      untilText: this.untilText,
      ...(this.afterText !== undefined ? { afterText: this.afterText } : {}),
      instructions: cpus.reduce((n, c) => n + c.instructionCount, 0) - this.baseInstructions,
      guestTimeNs: guestTimeNs - this.baseGuestTimeNs,
      idleSkippedNs: this.idleSkippedNs,
      ripWeights: Object.fromEntries([...this.ripWeights].map(([rip, w]) => [ripHex(rip), w])),
      stackWeights: Object.fromEntries([...this.stackWeights].map(([a, w]) => [ripHex(a), w])),
      pauses: cpus.reduce((n, c) => n + c.pauseCount, 0) - this.basePauses,
      halts: this.halts,
      pio: Object.fromEntries(this.pio),
      mmio: Object.fromEntries(this.mmio),
      chainStops: Object.fromEntries(this.chainStops),
    };
    // Written whole, then renamed: a reader polling for the file never sees half of it.
    const tmpPath = `${this.outPath}.tmp`;
    writeFileSync(tmpPath, JSON.stringify(profile));
    renameSync(tmpPath, this.outPath);
  }
}

/** RIP as 16 hex digits (two's complement for kernel addresses, which are negative numbers here). */
export function ripHex(rip: number): string {
  if (rip >= 0) return rip.toString(16).padStart(16, '0');
  return (BigInt(rip) + (1n << 64n)).toString(16).padStart(16, '0');
}
