// The host side of the serial console for `tshv run`: stdin to the guest's UART, the UART's
// output to stdout. Raw mode when stdin is a terminal, with QEMU's escape: Ctrl-A x quits,
// Ctrl-A Ctrl-A sends one Ctrl-A. Piped input is queued by the UART without limit, so nothing
// typed before the guest reads is lost.

export interface ConsoleInputSink {
  enqueueInput(bytes: Uint8Array): void;
}

const CTRL_A = 0x01;

export class StdioConsole {
  private escapePending = false;
  private rawMode = false;
  private readonly onData = (chunk: Buffer): void => this.input(chunk);
  private outQueue: Uint8Array[] = [];
  private outBytes = 0;
  private sink: ConsoleInputSink | undefined;
  private readonly onQuit: () => void;
  private attached = false;

  constructor(onQuit: () => void) {
    this.onQuit = onQuit;
  }

  /** Starts reading stdin (once) and sends input to `sink` (the current machine's UART). */
  attach(sink: ConsoleInputSink): void {
    this.sink = sink;
    if (this.attached) return;
    this.attached = true;
    const stdin = process.stdin;
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      this.rawMode = true;
    }
    stdin.on('data', this.onData);
    // EOF on piped input: the guest keeps running (as QEMU does).
    stdin.on('error', () => undefined);
    stdin.resume();
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.flush();
    process.stdin.off('data', this.onData);
    process.stdin.pause();
    if (this.rawMode) {
      process.stdin.setRawMode(false);
      this.rawMode = false;
    }
  }

  /** Guest output; batched and written by flush(). */
  write(bytes: Uint8Array): void {
    this.outQueue.push(bytes.slice());
    this.outBytes += bytes.length;
    if (this.outBytes > 1 << 16) this.flush();
  }

  flush(): void {
    if (this.outQueue.length === 0) return;
    const all = Buffer.concat(this.outQueue);
    this.outQueue = [];
    this.outBytes = 0;
    process.stdout.write(all);
  }

  private input(chunk: Buffer): void {
    if (!this.rawMode) {
      this.sink?.enqueueInput(chunk);
      return;
    }
    const out: number[] = [];
    for (const b of chunk) {
      if (this.escapePending) {
        this.escapePending = false;
        if (b === 0x78 /* x */ || b === 0x58) {
          this.sink?.enqueueInput(Uint8Array.from(out));
          process.stderr.write('\r\ntshv: terminated by Ctrl-A x\r\n');
          this.onQuit();
          return;
        }
        if (b === CTRL_A) out.push(CTRL_A);
        continue;
      }
      if (b === CTRL_A) {
        this.escapePending = true;
        continue;
      }
      out.push(b);
    }
    if (out.length > 0) this.sink?.enqueueInput(Uint8Array.from(out));
  }
}

/**
 * `--console none`: the serial console is reachable only through the control socket's
 * console-attach; stdin is not read and nothing goes to stdout.
 */
export class NullConsole {
  attach(_sink: ConsoleInputSink): void {}
  detach(): void {}
  write(_bytes: Uint8Array): void {}
  flush(): void {}
}
