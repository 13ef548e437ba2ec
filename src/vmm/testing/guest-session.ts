// Test and benchmark harness: runs `tshv run` (the compiled CLI, node <out>/bin/tshv.js) as a
// child process with its serial console on pipes, waits for the default guest's readiness line
// and shell prompt, then runs shell commands and returns their output and exit status.
//
// How a command is framed: we type `echo "__B_""7__"; CMD; echo "__E_""7__ $?"` and look for the
// lines `__B_7__` and `__E_7__ <status>` in the console output. The quotes make the markers appear
// only in what the shell prints, never in the terminal's echo of what we typed (busybox's line
// editor echoes every key, and the tty echoes type-ahead in cooked mode). Output is cleaned of
// carriage returns (the tty's ONLCR turns "\n" into "\r\n") and of terminal control sequences
// (the line editor asks for the cursor position with ESC[6n before each prompt; nobody answers on
// a pipe, and it goes on without).
//
// Every session kills its child when disposed, and a process 'exit' hook kills any left over, so
// a failed or timed-out test never leaks a VM.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GUEST_READY_LINE } from '../../guest/init-script.js';
import { vmmNodeFlags } from '../process-flags.js';

/** The busybox shell's prompt in the default guest (PS1 from its /etc/profile). */
export const GUEST_SHELL_PROMPT = 'root@tshv:~# ';

/** Generous on purpose: a loaded CI machine may take minutes to boot the soft CPU. */
export const DEFAULT_BOOT_TIMEOUT_MS = 10 * 60 * 1000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 3 * 60 * 1000;

/** The CLI entry beside this compiled file: <out>/vmm/testing/guest-session.js → <out>/bin/tshv.js. */
export function tshvEntryPath(): string {
  return fileURLToPath(new URL('../../bin/tshv.js', import.meta.url));
}

export interface GuestSessionOptions {
  /** Extra `tshv run` arguments, e.g. ['--cpus', '4', '--memory', '1024']. */
  runArgs?: readonly string[];
  /** Wait for the readiness line and the first prompt (default true). */
  waitForShell?: boolean;
  bootTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Extra environment for the child (TSHV_HOME, TSHV_STATS...). */
  env?: NodeJS.ProcessEnv;
  /** CLI entry; default tshvEntryPath(). */
  entryPath?: string;
  /** A command that runs tshv, e.g. ['ip', 'netns', 'exec', 'NS'] (it must exec it, so kill() reaches it). */
  launcher?: readonly string[];
}

export interface GuestExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CommandResult {
  /** What the command printed (stdout and stderr), "\r" and control sequences removed. */
  output: string;
  status: number;
}

/** Removes terminal control sequences (CSI ... final byte, and lone ESC x) and carriage returns. */
export function cleanConsoleText(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\x1b[@-Z\\-_]/g, '').replace(/\r/g, '');
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveChildren.add(child);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test runner that exits (or times out a test) must not leave a VM running.
  process.on('exit', () => {
    for (const c of liveChildren) c.kill('SIGKILL');
  });
}

export class GuestSession implements Disposable {
  /** Everything the VM wrote (stdout and stderr), raw. */
  output = '';
  readonly startedMs = Date.now();
  /** Milliseconds from spawn to the readiness line (set by waitForReady). */
  readyMs: number | undefined;
  readonly commandTimeoutMs: number;
  private readonly child: ChildProcess;
  private readonly exited: Promise<GuestExit>;
  private exitInfo: GuestExit | undefined;
  private waiters: Array<() => void> = [];
  private nextMarker = 1;

  private constructor(options: GuestSessionOptions) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const entry = options.entryPath ?? tshvEntryPath();
    const argv = [process.execPath, ...vmmNodeFlags(), entry, 'run', ...(options.runArgs ?? [])];
    const launcher = options.launcher ?? [];
    const command = [...launcher, ...argv];
    this.child = spawn(command[0]!, command.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    track(this.child);
    const onData = (chunk: Buffer): void => {
      this.output += chunk.toString('latin1');
      this.wake();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    // A write after the VM exited fails with EPIPE: the exit is what the caller will see.
    this.child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        liveChildren.delete(this.child);
        this.exitInfo = { code, signal };
        this.wake();
        resolve(this.exitInfo);
      });
      this.child.on('error', (e) => {
        liveChildren.delete(this.child);
        this.output += `\n[cannot start ${entry}: ${e.message}]\n`;
        this.exitInfo = { code: -1, signal: null };
        this.wake();
        resolve(this.exitInfo);
      });
    });
  }

  /** Starts a VM and (by default) waits for its shell; kills the VM if that fails. */
  static async start(options: GuestSessionOptions = {}): Promise<GuestSession> {
    const session = new GuestSession(options);
    if (options.waitForShell === false) return session;
    try {
      await session.waitForShell(0, options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS);
    } catch (e) {
      session.kill();
      throw e;
    }
    return session;
  }

  /** Milliseconds since the VM was started. */
  elapsedMs(): number {
    return Date.now() - this.startedMs;
  }

  get exit(): GuestExit | undefined {
    return this.exitInfo;
  }

  /**
   * Waits for the readiness line (searching from `fromIndex`), then the prompt after it; returns
   * the index just past the prompt. Used at boot and after a reboot.
   */
  async waitForShell(fromIndex: number, timeoutMs = DEFAULT_BOOT_TIMEOUT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const ready = await this.waitFor(GUEST_READY_LINE, timeoutMs, fromIndex, 'the readiness line');
    this.readyMs = this.elapsedMs();
    const prompt = await this.waitFor(GUEST_SHELL_PROMPT, Math.max(1, deadline - Date.now()), ready, 'the shell prompt');
    return prompt + GUEST_SHELL_PROMPT.length;
  }

  /**
   * Resolves with the index of the first match at or after `fromIndex`; rejects with the console's
   * tail on timeout or when the VM exits first.
   */
  async waitFor(pattern: string | RegExp, timeoutMs: number, fromIndex = 0, what = String(pattern)): Promise<number> {
    const found = await this.waitForMatch(pattern, timeoutMs, fromIndex, what);
    return found.index;
  }

  /** Like waitFor, with the match (for capture groups). */
  async waitForMatch(pattern: string | RegExp, timeoutMs: number, fromIndex = 0, what = String(pattern)): Promise<{ index: number; match: string[] }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tail = this.output.slice(fromIndex);
      if (typeof pattern === 'string') {
        const at = tail.indexOf(pattern);
        if (at >= 0) return { index: fromIndex + at, match: [pattern] };
      } else {
        const m = pattern.exec(tail);
        if (m) return { index: fromIndex + m.index, match: [...m].map((s) => s ?? '') };
      }
      if (this.exitInfo) {
        throw new Error(`tshv run exited (${JSON.stringify(this.exitInfo)}) before ${what} appeared; console tail:\n${this.tail()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; console tail:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Types text on the serial console (as is: add "\n" yourself). */
  send(text: string): void {
    this.child.stdin?.write(text);
  }

  /**
   * Runs one shell command line and returns what it printed and `$?`. The command is typed on one
   * line between the two marker echoes, so it must be a plain list: no trailing `&` or `#` comment,
   * no `exit` (run it in a subshell: `(exit 3)`). One command at a time (run() waits for the end
   * marker): anything typed while a command runs is echoed by the tty into its output.
   */
  async run(command: string, timeoutMs = this.commandTimeoutMs): Promise<CommandResult> {
    const n = this.nextMarker++;
    const from = this.output.length;
    // One line: a second line typed while the command runs would be echoed into its output.
    this.send(`echo "__B_""${n}__"; ${command}; echo "__E_""${n}__ $?"\n`);
    const what = `the end of command ${JSON.stringify(command)}`;
    const begin = await this.waitForMatch(new RegExp(`__B_${n}__\\r?\\n`), timeoutMs, from, what);
    const bodyStart = begin.index + begin.match[0]!.length;
    const end = await this.waitForMatch(new RegExp(`__E_${n}__ (\\d+)\\r?\\n`), timeoutMs, bodyStart, what);
    const raw = this.output.slice(bodyStart, end.index);
    return { output: cleanConsoleText(raw), status: Number(end.match[1]) };
  }

  /** Runs a command that must succeed; returns its output, trimmed. */
  async check(command: string, timeoutMs = this.commandTimeoutMs): Promise<string> {
    const r = await this.run(command, timeoutMs);
    if (r.status !== 0) throw new Error(`Guest command ${JSON.stringify(command)} failed with status ${r.status}:\n${r.output}`);
    return r.output.trim();
  }

  /** Waits for the VM to exit; kills it and rejects on timeout. */
  async waitExit(timeoutMs = this.commandTimeoutMs): Promise<GuestExit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<GuestExit>((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(new Error(`tshv run still running after ${timeoutMs} ms (killed); console tail:\n${this.tail()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Types `poweroff` and waits for the VM to exit. */
  async poweroff(timeoutMs = this.commandTimeoutMs): Promise<GuestExit> {
    this.send('poweroff\n');
    return await this.waitExit(timeoutMs);
  }

  /** The last `chars` characters of the console, cleaned, for error messages. */
  tail(chars = 3000): string {
    return cleanConsoleText(this.output.slice(-chars));
  }

  /** SIGKILLs the VM if it is still running. */
  kill(): void {
    if (!this.exitInfo && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  [Symbol.dispose](): void {
    this.kill();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
