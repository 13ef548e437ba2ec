// The part of the WebAssembly JS API (https://webassembly.github.io/spec/js-api/) the wasm tier
// uses: Node provides the global, but lib "ES2022" and @types/node do not declare it.
declare namespace WebAssembly {
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer;
  }
  class Table {
    constructor(descriptor: { initial: number; maximum?: number; element: 'anyfunc' | 'externref' });
    readonly length: number;
    grow(delta: number): number;
    set(index: number, value: unknown): void;
  }
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
