import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventFd } from './eventfd.js';
import { SIG_BLOCK, SIG_SETMASK, getpid, gettid, sigset, sigtimedwaitNow, tgkill, threadSigmask } from './libc.js';

test('an eventfd counts signals and reads back zero when empty', () => {
  const e = new EventFd();
  try {
    assert.equal(e.consume(), 0);
    e.signal();
    e.signal(2);
    assert.equal(e.consume(), 3);
    assert.equal(e.consume(), 0);
  } finally {
    e.dispose();
  }
});

test('a blocked thread-directed signal stays pending and is consumed by sigtimedwait', () => {
  const SIG = 40; // a real-time signal nobody else uses
  const set = sigset([SIG]);
  const old = threadSigmask(SIG_BLOCK, set);
  try {
    assert.equal(sigtimedwaitNow(set), 0);
    tgkill(getpid(), gettid(), SIG);
    assert.equal(sigtimedwaitNow(set), SIG);
    assert.equal(sigtimedwaitNow(set), 0);
  } finally {
    threadSigmask(SIG_SETMASK, old);
  }
});
