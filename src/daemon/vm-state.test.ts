import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VmState } from '../api/schema/vm.js';
import { DaemonError } from './service.js';
import {
  VM_ACTIONS, VM_ACTION_RULES, VM_STATES, actionAllowed, checkAction, isLiveState, stateAfterExit, type VmAction,
} from './vm-state.js';

// The expected matrix, written out independently of the table: rows are actions, columns the
// states in VM_STATES order (stopped, starting, running, paused, stopping, crashed).
const EXPECTED: Record<VmAction, string> = {
  start: /*        */ 'x . . . . x',
  stop: /*         */ '. . x x . .',
  'force-stop': /* */ '. x x x x .',
  pause: /*        */ '. . x . . .',
  resume: /*       */ '. . . x . .',
  reboot: /*       */ '. . x . . .',
  delete: /*       */ 'x . . . . x',
};

test('every action in every state matches the written-down matrix', () => {
  assert.deepEqual([...VM_STATES], ['stopped', 'starting', 'running', 'paused', 'stopping', 'crashed']);
  let checked = 0;
  for (const action of VM_ACTIONS) {
    const row = EXPECTED[action].split(' ');
    VM_STATES.forEach((state, i) => {
      const allowed = row[i] === 'x';
      assert.equal(actionAllowed(action, state), allowed, `${action} in ${state}`);
      if (allowed) {
        assert.doesNotThrow(() => checkAction('web', action, state));
      } else {
        assert.throws(() => checkAction('web', action, state), (e: unknown) => {
          assert.ok(e instanceof DaemonError);
          assert.equal(e.code, 'conflict');
          assert.match(e.message, new RegExp(`^Cannot ${action} VM "web": it is (already )?${state}`));
          return true;
        });
      }
      checked++;
    });
  }
  assert.equal(checked, VM_ACTIONS.length * VM_STATES.length);
});

test('delete with force is accepted in every state', () => {
  for (const state of VM_STATES) {
    assert.equal(actionAllowed('delete', state, true), true);
    assert.doesNotThrow(() => checkAction('web', 'delete', state, true));
  }
});

test('conflict messages read well', () => {
  const message = (action: VmAction, state: VmState): string => {
    try {
      checkAction('web', action, state);
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  };
  assert.equal(message('pause', 'stopped'), 'Cannot pause VM "web": it is stopped');
  assert.equal(message('start', 'running'), 'Cannot start VM "web": it is already running');
  assert.equal(message('pause', 'paused'), 'Cannot pause VM "web": it is already paused');
  assert.equal(message('resume', 'running'), 'Cannot resume VM "web": it is already running');
  assert.equal(message('delete', 'running'), 'Cannot delete VM "web": it is running (stop it first, or delete with force)');
});

test('transitional states: start goes through starting, stop through stopping', () => {
  assert.equal(VM_ACTION_RULES.start.during, 'starting');
  assert.equal(VM_ACTION_RULES.stop.during, 'stopping');
  for (const s of VM_STATES) assert.equal(isLiveState(s), s !== 'stopped' && s !== 'crashed', s);
});

test('the state after a VMM exit', () => {
  assert.equal(stateAfterExit({ kind: 'clean', reason: 'guest powered off' }, false), 'stopped');
  assert.equal(stateAfterExit({ kind: 'failed', reason: 'killed by SIGKILL' }, false), 'crashed');
  assert.equal(stateAfterExit({ kind: 'failed', reason: 'killed by SIGKILL' }, true), 'stopped');
  assert.equal(stateAfterExit({ kind: 'clean', reason: 'stopped' }, true), 'stopped');
});
