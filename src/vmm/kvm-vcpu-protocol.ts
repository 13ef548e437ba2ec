// The shared-memory protocol between the KVM vCPU workers and the main thread (kvm-engine.ts).
// Two kinds of device access leave a vCPU:
//   - reads (IN, MMIO load) need the device's answer: a synchronous round trip through the vCPU's
//     own Int32Array (W.*): the worker (kvm-exit-client.ts) writes the access, sets
//     REQ=REQ_PENDING and rings the doorbell; the main thread (kvm-exit-server.ts) runs the device,
//     writes the result and sets REQ=REQ_DONE; the worker takes the result and sets REQ=REQ_IDLE.
//   - writes (OUT, MMIO store) are posted: queued in one ring all vCPUs share, and the vCPU goes on.
// Control (pause, stop) goes the other way in CTRL, with a signal kick to get the worker out of
// KVM_RUN. The main thread waits on one doorbell word for all vCPUs (it cannot block on each
// vCPU's word at once).
//
// Each exit costs ~10 µs on a nested KVM and ~1-2 µs on hardware, so a futex wake-up per access
// (a system call, and a reschedule on the other side) is what costs most. The main thread is
// woken only for reads, for a ring filling up, or from its deepest sleep; and where polling pays
// (kvm-exit-server.ts decides), both sides poll briefly during a burst of reads
// (BELL_WAITING=MAIN_POLLING, BELL_POLL).

/** Words of the per-vCPU Int32Array. Counters sit on their own cache line, away from the request. */
export const W = {
  REQ: 0,
  KIND: 1,
  ADDR_LO: 2,
  ADDR_HI: 3,
  SIZE: 4,
  DATA_LO: 5,
  DATA_HI: 6,
  CTRL: 7,
  STATE: 8,
  PIO_EXITS: 16,
  MMIO_EXITS: 17,
  OTHER_EXITS: 18,
  KICKS: 19,
  POSTED_WRITES: 20,
  /** Reads whose answer came while the worker polled for it (no futex wait). */
  READS_POLLED: 21,
  /** Reads for which the worker slept in Atomics.wait. */
  READS_SLEPT: 22,
} as const;
export const PROTOCOL_WORDS = 32;

export const REQ_IDLE = 0;
export const REQ_PENDING = 1;
export const REQ_DONE = 2;

export const KIND_PIO_READ = 1;
export const KIND_PIO_WRITE = 2;
export const KIND_MMIO_READ = 3;
export const KIND_MMIO_WRITE = 4;

export const CTRL_RUN = 0;
export const CTRL_PAUSE = 1;
export const CTRL_STOP = 2;

export const STATE_STARTING = 0;
export const STATE_RUNNING = 1;
export const STATE_PAUSED = 2;
export const STATE_STOPPED = 3;

/**
 * The signal that kicks a vCPU thread out of KVM_RUN: a real-time signal nothing else in Node uses.
 * It stays blocked in the vCPU thread except inside KVM_RUN (KVM_SET_SIGNAL_MASK), so it is never
 * delivered: it only makes KVM_RUN return EINTR, and the worker consumes it with sigtimedwait.
 */
export const SIG_KICK = 40;

export interface VcpuWorkerData {
  vcpuFd: number;
  index: number;
  mmapSizeBytes: number;
  shared: SharedArrayBuffer;
  /** BELL_WORDS Int32s all vCPUs share: the doorbell and the posted-write ring. */
  doorbell: SharedArrayBuffer;
}

/**
 * The doorbell: BELL_SEQ is the word the main thread sleeps on; a worker adds 1 to it for every
 * read request, for a stop, and for a posted write only when the main thread must be woken for it.
 * BELL_WAITING (MAIN_*) says what the main thread is doing, so that a worker makes the futex wake
 * system call only when the main thread sleeps, and polls for its answer only when the main thread
 * polls too.
 */
export const BELL_SEQ = 0;
export const BELL_WAITING = 1;
/**
 * 1 while the main thread polls during bursts (its CPUs are not contended): a worker then polls
 * for a read's answer even when it had to wake the main thread, so that a burst that began with
 * sleeps on both sides goes on with polls on both sides.
 */
export const BELL_POLL = 2;
/** Running (a turn of the event loop, device work); it looks at the vCPUs again without a wake-up. */
export const MAIN_BUSY = 0;
/** Asleep until anything happens (a write, a read, a stop): the idle state. */
export const MAIN_SLEEPS = 1;
/** Asleep for a short while during a burst: only reads, stops and a half-full ring wake it. */
export const MAIN_SLEEPS_FOR_REQUESTS = 2;
/** Spinning on BELL_SEQ: a read is answered within microseconds, so its worker polls for the answer. */
export const MAIN_POLLING = 3;

/**
 * Posted writes: a device write (OUT, MMIO store) has no result the vCPU waits for, so the worker
 * queues it and re-enters KVM_RUN at once; the main thread applies the queued writes in order.
 * One ring for all vCPUs, in the doorbell's buffer, so that the order of writes is the order in
 * which the vCPUs made them: an AP that prints a line and then sets a flag in memory, and the BSP
 * that sees the flag and prints, reach the UART in that order (x86 port writes are not posted on
 * real hardware; this keeps what software can observe of that). Before it serves any read, the
 * main thread applies every write queued so far, so a read never overtakes an earlier write.
 * A worker reserves a slot (Atomics.add on RING_HEAD), fills it, then publishes it by storing
 * slot + 1 in its first word; the main thread stops at the first unpublished slot. When the ring
 * is nearly full (RING_RESERVE slots left, one per possible vCPU) a worker falls back to the
 * synchronous round trip, which drains the ring first.
 * Entry (RING_ENTRY_WORDS): published marker, kind | size << 4 | address bits 32.. << 8, address
 * bits 0..31, value. RING_HEAD (written by the workers), RING_TAIL (written by the main thread) and
 * the entries sit on separate 64-byte cache lines so that neither side's stores slow the other.
 */
export const RING_HEAD = 16;
export const RING_TAIL = 32;
export const RING_BASE = 48;
export const RING_ENTRIES = 1024; // a power of two
export const RING_ENTRY_WORDS = 4;
export const RING_RESERVE = 64;
/** At this many queued writes a worker wakes a main thread that sleeps for requests only. */
export const RING_WAKE_AT = RING_ENTRIES / 2;
export const BELL_WORDS = RING_BASE + RING_ENTRIES * RING_ENTRY_WORDS;

/** Messages from a vCPU worker to the main thread. */
export type VcpuWorkerMessage =
  | { kind: 'ready'; tid: number }
  | { kind: 'exit'; exit: 'poweroff' | 'reset' | 'error'; message: string };
