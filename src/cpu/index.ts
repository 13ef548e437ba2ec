// The soft CPU engine's public surface.
export { Cpu, EventKind, REP_CHUNK, type RunExit, type EventDelivery, type CpuOptions } from './cpu.js';
export { decode, DecodedInsn, type CodeFetcher, type HandlerLookup } from './decoder.js';
export { BlockCache, Block, MAX_BLOCK_INSNS } from './block-cache.js';
export { OpTableImpl, buildOpTable, sharedOpTable } from './op-table.js';
export type { LinearMemory } from './linear-memory.js';
export { CpuFault, UnimplementedInstructionError, TripleFaultError } from './fault.js';
