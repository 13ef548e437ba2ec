// Wakes an idle machine when a TAP has a frame. The machine's single thread reads TAPs without
// blocking at slice boundaries (VirtioNet.poll()); that is the cheapest path while the guest
// runs (an empty non-blocking read costs about 1 us). But when every vCPU is halted the machine
// sleeps until its next timer, and a frame would wait that long. A small worker thread blocks in
// poll(2) on the fd and posts one message when it becomes readable; the owner's callback wakes
// the machine, which polls the device and re-arms the watcher. One message per wake-up, not per
// frame: cheap under load, prompt when idle.
import { Worker } from 'node:worker_threads';

export const WATCH_ARMED = 0;
export const WATCH_FIRED = 1;
export const WATCH_STOP = 2;

export interface TapWatcherData {
  fd: number;
  state: SharedArrayBuffer;
}

export class TapWatcher {
  private readonly state = new Int32Array(new SharedArrayBuffer(4));
  private readonly worker: Worker;
  private disposed = false;
  private exited = false;

  /** Starts watching `fd` (armed); `onReadable` runs on this thread, once per arm(). */
  constructor(fd: number, onReadable: () => void) {
    const data: TapWatcherData = { fd, state: this.state.buffer };
    this.worker = new Worker(new URL('./tap-watcher-worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', () => { if (!this.disposed) onReadable(); });
    this.worker.on('exit', () => { this.exited = true; });
    // The watcher must never keep the process alive on its own.
    this.worker.unref();
  }

  /** Watch again (after the device has taken what it could). */
  arm(): void {
    if (this.disposed) return;
    if (Atomics.compareExchange(this.state, 0, WATCH_FIRED, WATCH_ARMED) === WATCH_FIRED) Atomics.notify(this.state, 0);
  }

  /** Stops the worker (within one poll step); close the fd after this. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.state, 0, WATCH_STOP);
    Atomics.notify(this.state, 0);
    if (this.exited) return;
    // Keep the event loop alive until the worker is gone (it is unref'd otherwise).
    this.worker.ref();
    await new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
    });
  }
}
