// Errors meant for the user: the CLI prints `message` on one line and exits non-zero, never a
// stack trace. Messages follow shared/STYLE.md: `Cannot attach drive "rootfs": /img/a.qcow2 does not exist`.

export class TshvError extends Error {
  /** Process exit status when this error ends a command. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'TshvError';
    this.exitCode = exitCode;
  }
}

/** Narrows an unknown thrown value to a message. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
