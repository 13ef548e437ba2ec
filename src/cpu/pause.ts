// What PAUSE (F3 90, the spin-wait hint) costs in guest time on the soft CPU. Guest time advances
// 1 ns per executed instruction (vmm/clock.ts), which would make a PAUSE as cheap as a NOP, so a
// spin-wait on time (udelay's delay_tsc, `while (!cond) cpu_relax();`) would need ~10x more
// instructions than on hardware to let the same guest time pass.

/**
 * Guest nanoseconds one PAUSE stalls the vCPU: 140 TSC cycles at the 1 GHz TSC. Intel's
 * Optimization Reference Manual (Skylake microarchitecture, "Pause latency"): PAUSE takes up to
 * 140 cycles on Skylake and later, about 10 on earlier cores.
 */
export const PAUSE_STALL_NS = 140;

/**
 * Spin time after which a vCPU running a PAUSE loop leaves run() (as {kind:'pause'}) so that the
 * machine fires due timers and runs the other vCPUs: the VMX pause-loop-exiting window, which KVM
 * sets to 4096 cycles by default (SDM Vol. 3C §25.1.3 "PAUSE-loop exiting"; KVM's ple_window).
 */
export const PAUSE_LOOP_EXIT_NS = 4096;
