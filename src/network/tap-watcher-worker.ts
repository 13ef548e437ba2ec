// Worker side of TapWatcher: blocks in poll(2) on the TAP fd while armed and tells the main
// thread once the fd is readable, then waits to be armed again (so a frame the guest has no
// buffer for does not cause a message storm). Polls in 100 ms steps to notice a stop request.
import { parentPort, workerData } from 'node:worker_threads';
import { pollReadable } from '../sys/libc.js';
import { WATCH_ARMED, WATCH_FIRED, WATCH_STOP, type TapWatcherData } from './tap-watcher.js';

const { fd, state } = workerData as TapWatcherData;
const s = new Int32Array(state);
const STEP_MS = 100;
for (;;) {
  const now = Atomics.load(s, 0);
  if (now === WATCH_STOP) break;
  if (now === WATCH_FIRED) {
    Atomics.wait(s, 0, WATCH_FIRED, STEP_MS);
    continue;
  }
  const r = pollReadable(fd, STEP_MS);
  if (r < 0 && r !== -4) break; // a closed fd (EBADF) ends the watch; EINTR retries
  if (r > 0 && Atomics.compareExchange(s, 0, WATCH_ARMED, WATCH_FIRED) === WATCH_ARMED) parentPort?.postMessage(0);
}
