// Test helper: boots a kernel + initrd under QEMU TCG (our measured peer, see
// shared/reference/qemu-peer.md) with the serial console on a pipe, to check the default guest
// from outside: wait for console text, type commands, wait for the machine to power off.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export const QEMU_SYSTEM_X86_64 = '/usr/bin/qemu-system-x86_64';

export function qemuAvailable(): boolean {
  return existsSync(QEMU_SYSTEM_X86_64);
}

export interface QemuGuestOptions {
  kernelPath: string;
  initrdPath: string;
  append?: string;
  memMib?: number;
}

export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class QemuGuest implements Disposable {
  /** Everything the guest wrote on its console so far. */
  output = '';
  readonly startedMs = Date.now();
  private readonly child: ChildProcess;
  private readonly exited: Promise<QemuExit>;
  private exitInfo: QemuExit | undefined;
  private waiters: Array<() => void> = [];

  constructor(options: QemuGuestOptions) {
    const args = [
      '-accel', 'tcg', '-cpu', 'qemu64', '-M', 'pc', '-m', String(options.memMib ?? 512), '-smp', '1',
      '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
      '-kernel', options.kernelPath, '-initrd', options.initrdPath,
      '-append', options.append ?? 'console=ttyS0 quiet',
    ];
    this.child = spawn(QEMU_SYSTEM_X86_64, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer): void => {
      this.output += chunk.toString('latin1');
      this.wake();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.wake();
        resolve(this.exitInfo);
      });
      this.child.on('error', (e) => {
        this.output += `\n[spawn error: ${e.message}]\n`;
        this.exitInfo = { code: -1, signal: null };
        this.wake();
        resolve(this.exitInfo);
      });
    });
  }

  /** Milliseconds since QEMU was started. */
  elapsedMs(): number {
    return Date.now() - this.startedMs;
  }

  /** Resolves when the console output (from `fromIndex` on) matches; rejects on timeout or exit. */
  async waitFor(pattern: string | RegExp, timeoutMs: number, fromIndex = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tail = this.output.slice(fromIndex);
      const at = typeof pattern === 'string' ? tail.indexOf(pattern) : tail.search(pattern);
      if (at >= 0) return fromIndex + at;
      if (this.exitInfo) throw new Error(`QEMU exited (${JSON.stringify(this.exitInfo)}) before ${String(pattern)}:\n${this.output.slice(-2000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${String(pattern)}:\n${this.output.slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Types text on the serial console. */
  send(text: string): void {
    this.child.stdin?.write(text);
  }

  /** Waits for QEMU to exit; kills it on timeout. */
  async waitExit(timeoutMs: number): Promise<QemuExit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<QemuExit>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`QEMU still running after ${timeoutMs} ms:\n${this.output.slice(-2000)}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  [Symbol.dispose](): void {
    if (!this.exitInfo) this.child.kill('SIGKILL');
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
