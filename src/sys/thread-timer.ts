// A POSIX timer that sends a signal to one thread (timer_create(2) with SIGEV_THREAD_ID): the KVM
// engine uses it to bound how long the main thread stays inside one KVM_RUN (vmm/kvm-main-thread.ts).
// The kernel delivers the signal itself, so no helper thread has to wake up to send it; while the
// signal is still pending a new expiry only counts an overrun (timer_create(2)), so signals never
// pile up.

import { SysError, koffi } from './libc.js';

const libc = koffi.load('libc.so.6');
const f = {
  // timer_t is a pointer-sized opaque value in glibc: carried here as an int64.
  timer_create: libc.func('int timer_create(int clockid, const uint8_t *sevp, _Out_ uint8_t *timerid)'),
  timer_settime: libc.func('int timer_settime(int64_t timerid, int flags, const uint8_t *new_value, uint8_t *old_value)'),
  timer_delete: libc.func('int timer_delete(int64_t timerid)'),
};

const CLOCK_MONOTONIC = 1;
/** sigev_notify: deliver to the thread in sigev_notify_thread_id (linux/signal.h, Linux-specific). */
const SIGEV_THREAD_ID = 4;
/** struct sigevent is 64 bytes: sigev_value @0, sigev_signo @8, sigev_notify @12, _tid @16. */
const SIGEVENT_BYTES = 64;
/** struct itimerspec: it_interval {tv_sec, tv_nsec} @0, it_value @16, all 64-bit. */
const ITIMERSPEC_BYTES = 32;

export class ThreadTimer {
  private readonly id: bigint;
  private readonly spec = new Uint8Array(ITIMERSPEC_BYTES);
  private readonly specView = new DataView(this.spec.buffer);
  private disposed = false;

  /** A disarmed timer that will send `signal` to thread `tid` of this process. */
  constructor(tid: number, signal: number) {
    const ev = new Uint8Array(SIGEVENT_BYTES);
    const v = new DataView(ev.buffer);
    v.setInt32(8, signal, true);
    v.setInt32(12, SIGEV_THREAD_ID, true);
    v.setInt32(16, tid, true);
    const idBuf = new Uint8Array(8);
    if ((f.timer_create(CLOCK_MONOTONIC, ev, idBuf) as number) !== 0) throw new SysError('timer_create', koffi.errno(), `signal ${signal} to thread ${tid}`);
    this.id = new DataView(idBuf.buffer).getBigInt64(0, true);
  }

  /** Fires once, `delayMs` from now (replacing any earlier arming); 0 disarms. */
  arm(delayMs: number): void {
    const ns = Math.round(delayMs * 1e6);
    this.specView.setBigInt64(16, BigInt(Math.floor(ns / 1e9)), true);
    this.specView.setBigInt64(24, BigInt(ns % 1e9), true);
    if ((f.timer_settime(this.id, 0, this.spec, null) as number) !== 0) throw new SysError('timer_settime', koffi.errno());
  }

  disarm(): void {
    this.arm(0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    f.timer_delete(this.id);
  }
}
