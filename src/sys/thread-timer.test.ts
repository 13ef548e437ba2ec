import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SIG_BLOCK, SIG_UNBLOCK, gettid, sigset, sigtimedwaitNow, threadSigmask } from './libc.js';
import { ThreadTimer } from './thread-timer.js';

// A real-time signal nothing else in this test process uses; blocked, so it only waits to be taken.
const SIG = 41;

test('ThreadTimer: an armed timer signals this thread once; a disarmed one does not', async () => {
  const set = sigset([SIG]);
  threadSigmask(SIG_BLOCK, set);
  const timer = new ThreadTimer(gettid(), SIG);
  try {
    timer.arm(5);
    const deadline = Date.now() + 5_000;
    let got = 0;
    while (got === 0 && Date.now() < deadline) {
      await sleep(2);
      got = sigtimedwaitNow(set);
    }
    assert.equal(got, SIG);
    await sleep(20);
    assert.equal(sigtimedwaitNow(set), 0, 'one-shot: no second signal');
    timer.arm(5);
    timer.disarm();
    await sleep(30);
    assert.equal(sigtimedwaitNow(set), 0, 'disarmed before it fired');
  } finally {
    timer.dispose();
    while (sigtimedwaitNow(set) !== 0) { /* drain before unblocking: the default action ends the process */ }
    threadSigmask(SIG_UNBLOCK, set);
  }
});
