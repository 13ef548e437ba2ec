// The shared-memory protocol between a KVM vCPU worker and the main thread (kvm-engine.ts). One
// Int32Array over a SharedArrayBuffer per vCPU. A PIO/MMIO exit is a synchronous round trip:
// the worker writes the access, sets REQ=REQ_PENDING and notifies; the main thread (woken by
// Atomics.waitAsync) runs the device, writes the result, sets REQ=REQ_DONE and notifies; the
// worker (blocked in Atomics.wait) takes the result and sets REQ=REQ_IDLE. Control (pause, stop)
// goes the other way in CTRL, with a signal kick to get the worker out of KVM_RUN. The main thread
// waits on one doorbell word for all vCPUs (it cannot block on each vCPU's word at once).

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
  PIO_EXITS: 9,
  MMIO_EXITS: 10,
  OTHER_EXITS: 11,
  KICKS: 12,
  POSTED_WRITES: 13,
} as const;
export const PROTOCOL_WORDS = 16;



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
  /** Int32[2] all vCPUs share (BELL_*): the doorbell counter and what the main thread waits for. */
  doorbell: SharedArrayBuffer;
}

/**
 * The doorbell: BELL_SEQ counts requests, posted writes and stops (a worker adds 1 after each);
 * BELL_WAITING says whether the main thread sleeps on it and for what. A worker notifies (a futex
 * wake, a system call) only when the main thread waits: for any event when idle, for requests only
 * while it serves a burst, where posted writes simply accumulate until its short wait times out.
 */
export const BELL_SEQ = 0;
export const BELL_WAITING = 1;

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
 * synchronous round trip. Entry: published marker, kind | size << 8, address low, address high, value.
 */
export const RING_HEAD = 2;
export const RING_TAIL = 3;
export const RING_BASE = 4;
export const RING_ENTRIES = 1024; // a power of two
export const RING_ENTRY_WORDS = 5;
export const RING_RESERVE = 64;
export const BELL_WORDS = RING_BASE + RING_ENTRIES * RING_ENTRY_WORDS;
export const WAITING_NONE = 0;
export const WAITING_ANY = 1;
export const WAITING_REQUESTS = 2;

/** Messages from a vCPU worker to the main thread. */
export type VcpuWorkerMessage =
  | { kind: 'ready'; tid: number }
  | { kind: 'exit'; exit: 'poweroff' | 'reset' | 'error'; message: string };
