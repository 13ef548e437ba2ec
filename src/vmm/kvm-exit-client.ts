// The vCPU worker's side of kvm-vcpu-protocol.ts: posts device writes to the shared ring and makes
// the synchronous round trip for reads. Runs once per PIO/MMIO exit, so it allocates nothing and
// touches as few shared cache lines as it can (the ring's tail, which the main thread writes, is
// read again only when the ring looks half full).

import {
  BELL_POLL, BELL_SEQ, BELL_WAITING, MAIN_BUSY, MAIN_POLLING, MAIN_SLEEPS, MAIN_SLEEPS_FOR_REQUESTS, REQ_IDLE, REQ_PENDING, RING_BASE, RING_ENTRIES,
  RING_ENTRY_WORDS, RING_HEAD, RING_RESERVE, RING_TAIL, RING_WAKE_AT, W,
} from './kvm-vcpu-protocol.js';

/**
 * How long a worker polls for a read's answer while the main thread polls (it answers within
 * microseconds then) or has just been woken while polling is on (BELL_POLL); past this, or when
 * polling is off, it sleeps in Atomics.wait.
 */
export const REPLY_POLL_MS = 0.15;
/** performance.now() is read once per this many polls (a power of two, minus one). */
const POLL_CLOCK_MASK = 15;

export class ExitClient {
  private readonly sh: Int32Array;
  private readonly bell: Int32Array;
  /** The ring's tail as last read: the ring holds at most head - tailSeen entries. */
  private tailSeen = 0;

  constructor(shared: Int32Array, doorbell: Int32Array) {
    this.sh = shared;
    this.bell = doorbell;
  }

  /** Queues a device write for the main thread without waiting (kvm-vcpu-protocol.ts, "Posted writes"). */
  postWrite(kind: number, addr: number, size: number, value: number): void {
    const bell = this.bell;
    let queued = (Atomics.load(bell, RING_HEAD) - this.tailSeen) | 0;
    if (queued >= RING_WAKE_AT) {
      this.tailSeen = Atomics.load(bell, RING_TAIL);
      queued = (Atomics.load(bell, RING_HEAD) - this.tailSeen) | 0;
      if (queued >= RING_ENTRIES - RING_RESERVE) {
        this.request(kind, addr, size, value); // nearly full: the round trip drains the ring first
        return;
      }
    }
    const slot = Atomics.add(bell, RING_HEAD, 1);
    const o = RING_BASE + (slot & (RING_ENTRIES - 1)) * RING_ENTRY_WORDS;
    bell[o + 1] = kind | (size << 4) | (Math.floor(addr / 0x1_0000_0000) << 8);
    bell[o + 2] = addr | 0;
    bell[o + 3] = value | 0;
    Atomics.store(bell, o, (slot + 1) | 0);
    this.sh[W.POSTED_WRITES]!++;
    // Sequentially consistent with the main thread's store of MAIN_SLEEPS and its look at
    // RING_HEAD before it sleeps: either it sees this entry, or this sees it asleep.
    const waiting = Atomics.load(bell, BELL_WAITING);
    if (waiting === MAIN_SLEEPS || (queued >= RING_WAKE_AT && waiting !== MAIN_POLLING)) {
      Atomics.add(bell, BELL_SEQ, 1);
      Atomics.notify(bell, BELL_SEQ);
    }
  }

  /** One device access on the main thread; returns the value read (low 32 bits; DATA_HI has the rest). */
  request(kind: number, addr: number, size: number, value: number): number {
    const sh = this.sh;
    const bell = this.bell;
    sh[W.KIND] = kind;
    sh[W.ADDR_LO] = addr | 0;
    sh[W.ADDR_HI] = Math.floor(addr / 0x1_0000_0000) | 0;
    sh[W.SIZE] = size;
    sh[W.DATA_LO] = value | 0;
    sh[W.DATA_HI] = 0;
    Atomics.store(sh, W.REQ, REQ_PENDING);
    Atomics.add(bell, BELL_SEQ, 1);
    const waiting = Atomics.load(bell, BELL_WAITING);
    if (waiting === MAIN_SLEEPS || waiting === MAIN_SLEEPS_FOR_REQUESTS) Atomics.notify(bell, BELL_SEQ);
    if ((waiting === MAIN_POLLING || (waiting !== MAIN_BUSY && Atomics.load(bell, BELL_POLL) === 1)) && this.pollForReply()) {
      return this.takeReply(W.READS_POLLED);
    }
    while (Atomics.load(sh, W.REQ) === REQ_PENDING) Atomics.wait(sh, W.REQ, REQ_PENDING);
    return this.takeReply(W.READS_SLEPT);
  }

  private pollForReply(): boolean {
    const sh = this.sh;
    let deadline = 0;
    for (let i = 0; ; i++) {
      if (Atomics.load(sh, W.REQ) !== REQ_PENDING) return true;
      if ((i & POLL_CLOCK_MASK) === POLL_CLOCK_MASK) {
        const now = performance.now();
        if (deadline === 0) deadline = now + REPLY_POLL_MS;
        else if (now >= deadline) return false;
      }
    }
  }

  private takeReply(counter: number): number {
    const sh = this.sh;
    const v = sh[W.DATA_LO]!;
    Atomics.store(sh, W.REQ, REQ_IDLE);
    sh[counter]!++;
    return v;
  }
}
