// `tshv vm console NAME`: the VM's serial console through the daemon's WebSocket. Raw mode on a
// terminal; Ctrl-] or Ctrl-A x detaches (the guest keeps running), Ctrl-A Ctrl-A sends one Ctrl-A
// (the same escape as `tshv run`). With piped input, the end of input detaches too.

import type { TshvClient } from '../client/client.js';

const CTRL_A = 0x01;
/** Ctrl-] (GS), telnet's and virsh's escape. */
const CTRL_RIGHT_BRACKET = 0x1d;

/** Splits typed bytes into what goes to the guest and whether the user asked to detach. */
export class DetachKeys {
  private afterCtrlA = false;

  feed(input: Uint8Array): { send: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of input) {
      if (this.afterCtrlA) {
        this.afterCtrlA = false;
        if (b === 0x78 /* x */ || b === 0x58 /* X */) return { send: Buffer.from(out), detach: true };
        out.push(CTRL_A);
        if (b !== CTRL_A) out.push(b);
        continue;
      }
      if (b === CTRL_RIGHT_BRACKET) return { send: Buffer.from(out), detach: true };
      if (b === CTRL_A) {
        this.afterCtrlA = true;
        continue;
      }
      out.push(b);
    }
    return { send: Buffer.from(out), detach: false };
  }
}

export async function consoleSession(client: TshvClient, name: string): Promise<number> {
  const stdin = process.stdin;
  const ws = await client.attachConsole(name, (chunk) => process.stdout.write(chunk));
  const tty = stdin.isTTY;
  process.stderr.write(`Connected to the console of VM "${name}" (detach: Ctrl-] or Ctrl-A x)\r\n`);
  if (tty) stdin.setRawMode(true);
  const keys = new DetachKeys();
  return await new Promise<number>((resolve) => {
    let done = false;
    const finish = (message: string): void => {
      if (done) return;
      done = true;
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      if (tty) stdin.setRawMode(false);
      // A paused pipe still holds the event loop: the command is over, let go of stdin.
      stdin.destroy();
      process.stderr.write(`\r\n${message}\r\n`);
      if (ws.readyState === ws.OPEN) ws.close(1000, 'detached');
      resolve(0);
    };
    const onData = (data: Buffer): void => {
      const { send, detach } = keys.feed(data);
      if (send.length > 0 && ws.readyState === ws.OPEN) ws.send(send);
      if (detach) finish(`Detached from VM "${name}" (it keeps running)`);
    };
    const onEnd = (): void => finish(`Detached from VM "${name}" (end of input)`);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
    ws.on('close', () => finish(`Console of VM "${name}" closed by the daemon`));
    ws.on('error', () => finish(`Console of VM "${name}" lost`));
  });
}
