// Contract for running a short instruction sequence on the soft CPU in isolation: used by the
// differential tests (results checked against the host CPU) and by unit tests. Implemented in
// run-snippet.ts by the CPU core.

export interface SnippetState {
  /** RAX..R15 as unsigned 64-bit values. */
  gpr: bigint[];
  /** RFLAGS (only the architectural bits are compared). */
  rflags: number;
  /** XMM0..XMM15 as unsigned 128-bit values; omitted = all zero. */
  xmm?: bigint[];
  mxcsr?: number;
}

export interface SnippetResult extends SnippetState {
  /** Set when the snippet ended with a CPU exception instead of reaching its end. */
  faultVector?: number;
}

export interface SnippetOptions {
  /** Execution mode; default long64 (CPL 0, paging on with an identity map of the data page). */
  mode?: 'long64' | 'protected32' | 'real16';
  /**
   * Bytes of a scratch data page mapped at `dataAddress` (default 0x10000) for memory operands;
   * its final contents are returned in `data`.
   */
  data?: Uint8Array;
  dataAddress?: number;
}

/** Runs `code` (which must not jump outside itself) until its end, and returns the state. */
export type RunSnippet = (code: Uint8Array, input: SnippetState, options?: SnippetOptions) => SnippetResult & { data?: Uint8Array };
