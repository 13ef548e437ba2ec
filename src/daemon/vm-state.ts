// The VM lifecycle, written down as tables: which user action fits which state, and which state
// the VM is in while the action works and after it. The daemon checks every action here before it
// touches a VMM, so a request that does not fit the state gets one clear 409 (issue 5).
//
//            start            VMM answers            pause
//  stopped ────────► starting ──────────► running ◄───────► paused
//  crashed ──┘          │                 │  ▲ reboot        │
//                       │            stop │  └──────┘        │ stop (resumed first, so the
//                       │                 ▼                  │       guest can see the button)
//                       │              stopping ◄────────────┘
//                       │                 │ VMM exits
//                       └────────────────►┴──► stopped (poweroff, quit, forced) or crashed (error,
//                                                        killed, no exit record)
//  force-stop: from starting, running, paused and stopping, straight to stopped.
//  delete: from stopped and crashed (with force: from any state; the VM is force-stopped first).

import type { VmState } from '../api/schema/vm.js';
import { DaemonError } from './service.js';

export const VM_STATES: readonly VmState[] = ['stopped', 'starting', 'running', 'paused', 'stopping', 'crashed'];

export type VmAction = 'start' | 'stop' | 'force-stop' | 'pause' | 'resume' | 'reboot' | 'delete';

export const VM_ACTIONS: readonly VmAction[] = ['start', 'stop', 'force-stop', 'pause', 'resume', 'reboot', 'delete'];

interface ActionRule {
  /** States in which the action is accepted. */
  from: readonly VmState[];
  /** The state the VM enters as soon as the action is accepted (absent: unchanged until the VMM confirms). */
  during?: VmState;
}

/** The table the daemon enforces. `delete` with force is accepted from any state. */
export const VM_ACTION_RULES: Readonly<Record<VmAction, ActionRule>> = {
  start: { from: ['stopped', 'crashed'], during: 'starting' },
  stop: { from: ['running', 'paused'], during: 'stopping' },
  'force-stop': { from: ['starting', 'running', 'paused', 'stopping'] },
  pause: { from: ['running'] },
  resume: { from: ['paused'] },
  reboot: { from: ['running'] },
  delete: { from: ['stopped', 'crashed'] },
};

/** States in which a VMM process exists (or is being started) for the VM. */
export const VM_LIVE_STATES: readonly VmState[] = ['starting', 'running', 'paused', 'stopping'];

export function isLiveState(state: VmState): boolean {
  return VM_LIVE_STATES.includes(state);
}

export function actionAllowed(action: VmAction, state: VmState, force = false): boolean {
  if (action === 'delete' && force) return true;
  return VM_ACTION_RULES[action].from.includes(state);
}

/** Why an action does not fit, in words: `it is stopped`, `it is already running`. */
function stateWords(action: VmAction, state: VmState): string {
  const already =
    (action === 'start' && (state === 'running' || state === 'starting')) ||
    (action === 'stop' && state === 'stopping') ||
    (action === 'force-stop' && state === 'stopped') ||
    (action === 'pause' && state === 'paused') ||
    (action === 'resume' && state === 'running');
  return already ? `it is already ${state}` : `it is ${state}`;
}

/**
 * Throws DaemonError 'conflict' unless `action` fits `state`, e.g.
 * `Cannot pause VM "web": it is stopped`.
 */
export function checkAction(vmName: string, action: VmAction, state: VmState, force = false): void {
  if (actionAllowed(action, state, force)) return;
  let hint = '';
  if (action === 'delete') hint = ' (stop it first, or delete with force)';
  throw new DaemonError('conflict', `Cannot ${action} VM "${vmName}": ${stateWords(action, state)}${hint}`);
}

/** How a VMM process ended, as the supervisor learned it. */
export type VmmEnd =
  /** The VMM wrote an exit record saying poweroff, reset (with --no-reboot) or stopped (quit, a signal it caught). */
  | { kind: 'clean'; reason: string }
  /** The machine failed (exit record 'error'), or the process died without an exit record. */
  | { kind: 'failed'; reason: string };

/**
 * The state after the VMM process ended. A process we were asked to stop ends stopped however it
 * ended (a SIGKILL after the timeout is the stop the user asked for); otherwise a failure is a crash.
 */
export function stateAfterExit(end: VmmEnd, stopRequested: boolean): VmState {
  if (stopRequested || end.kind === 'clean') return 'stopped';
  return 'crashed';
}
