// The VMM's one public interface (shared/STYLE.md habit 8): every frontend (the control socket that
// the daemon uses, later migration peers) translates into this command union and nothing else.
//
// Transport: a Unix stream socket (`tshv run --control PATH`). Each message is one line of UTF-8
// JSON ending in "\n". The client sends one `VmmRequest`; the VMM answers with one `VmmResponse`
// carrying the same `id`. A connection may carry many requests in sequence.
// Two requests turn the connection into a stream instead of answering once:
// - `console-attach`: after its `{ ok: true }` response line, the connection carries raw bytes both
//   ways (guest serial output out, first the scrollback buffer; keyboard input in), until either
//   side closes. Detaching (closing) never disturbs the guest; several consoles may be attached.
// - `watch`: after its response line, the VMM writes one `VmmEvent` JSON line per event until the
//   connection closes. The VMM closes it when it exits.

/** One request to the VMM. */
export type VmmAction =
  /** The machine's state and identity. */
  | { action: 'status' }
  /** Stops every vCPU; guest time stops too. Devices keep their state. Idempotent. */
  | { action: 'pause' }
  /** Resumes after `pause`. Idempotent. */
  | { action: 'resume' }
  /** Presses the ACPI power button (PM1 PWRBTN_STS, ACPI 6.4 §4.8.3.1.1): a polite shutdown request. */
  | { action: 'power-button' }
  /** Ends the VMM process now (a forced stop: the guest gets no say). The exit record says 'stopped'. */
  | { action: 'quit' }
  /** Resets the machine in place, as the guest's own `reboot` does. */
  | { action: 'reset' }
  /** Turns the connection into the serial console stream (see the header). */
  | { action: 'console-attach'; scrollback: boolean }
  /** Turns the connection into an event stream (see the header). */
  | { action: 'watch' }
  /**
   * Sets the memory balloon's target (virtio 1.2 §5.5: num_pages): the guest gives back that much
   * RAM (whole MiB; 0 deflates it all). Answers at once with `balloon`; the guest follows in its own time.
   */
  | { action: 'balloon'; targetMib: number }
  /** The balloon's state, the guest's last statistics (stats queue, §5.5.6.3) and the VMM's RSS. */
  | { action: 'balloon-stats' }
  /**
   * Changes a disk's or NIC's rate limits at run time; `device` is the guest's name of it in
   * attachment order ('vda', 'vdb', ... / 'eth0', 'eth1', ...). A field left out keeps its limit;
   * null or 0 removes it. NICs have no iops limit. Answers with `rateLimit` (the limits now).
   */
  | { action: 'set-rate-limit'; device: string; bps?: number | null; iops?: number | null };

export type VmmRequest = VmmAction & { id: number };

export type VmmRunState = 'running' | 'paused';

export interface VmmStatus {
  name: string;
  pid: number;
  state: VmmRunState;
  engine: 'soft' | 'kvm';
  cpuCount: number;
  memSizeMib: number;
  /** Milliseconds since the VMM process started. */
  uptimeMs: number;
  /** Times the machine was reset (guest reboot or `reset`) since the process started. */
  resetCount: number;
}

/** The `balloon` and `balloon-stats` answer. */
export interface VmmBalloonInfo {
  /** The target the VMM set (num_pages), in MiB. */
  targetMib: number;
  /** What the guest says is in the balloon now (actual), in MiB. */
  actualMib: number;
  /** Guest RAM handed back to the host since start (balloon pages and free page reports), bytes. */
  releasedBytes: number;
  /** The guest's last statistics by name (freeBytes, availableBytes, totalBytes, ...); {} before the first. */
  guestStats: Record<string, number>;
  /** Statistics buffers received so far (0: the guest has not sent any yet). */
  statsUpdates: number;
  /** Resident set size of the VMM process now (includes the guest RAM it touched). */
  vmmRssBytes: number;
}

/** The `set-rate-limit` answer: the device's limits now (0: unlimited). */
export interface VmmRateLimit {
  device: string;
  bps: number;
  iops: number;
}

export type VmmResponse =
  | { id: number; ok: true; status?: VmmStatus; balloon?: VmmBalloonInfo; rateLimit?: VmmRateLimit }
  | { id: number; ok: false; error: string };

/**
 * The `id` of the error response to a line that is not a request at all (not JSON, no integer id),
 * and of the error line sent before the VMM closes a connection (too long a line, too many
 * connections): no request id applies. (Added with the control server.)
 */
export const VMM_NO_REQUEST_ID = -1;

export type VmmEvent =
  | { event: 'state'; state: VmmRunState }
  | { event: 'reset' }
  | { event: 'exiting'; exit: VmmExitRecord };

/**
 * Written by the VMM to `--exit-file PATH` just before it exits (atomically: a temp file renamed),
 * so that a supervisor that is not its parent (a restarted daemon) can still learn why it ended.
 * A VMM that dies without writing it was killed or crashed.
 */
export interface VmmExitRecord {
  /** poweroff: the guest powered off; reset: the guest rebooted with --no-reboot; stopped: `quit`
   *  or a signal; error: the machine failed (triple fault, unimplemented instruction, ...). */
  reason: 'poweroff' | 'reset' | 'stopped' | 'error';
  /** The process exit status that follows. */
  exitCode: number;
  /** For `error`: the one-line message. */
  message?: string;
  /** ISO 8601 time of the exit. */
  time: string;
}

/** Largest request line the VMM accepts; longer lines close the connection with an error. */
export const VMM_MAX_REQUEST_BYTES = 64 * 1024;
/** Serial output kept for consoles that attach later. */
export const VMM_CONSOLE_SCROLLBACK_BYTES = 64 * 1024;
