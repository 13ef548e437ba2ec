// The shared `struct kvm_run` page of a vCPU (include/uapi/linux/kvm.h) and KVM_RUN exits decoded
// into a discriminated union. Offsets: request_interrupt_window u8 @0, immediate_exit u8 @1,
// exit_reason u32 @8, ready_for_interrupt_injection u8 @12, if_flag u8 @13, flags u16 @14,
// cr8 u64 @16, apic_base u64 @24, exit union @32.

import { KVM_EXIT } from './ioctls.js';

export type KvmExit =
  | { kind: 'io'; write: boolean; size: 1 | 2 | 4; port: number; count: number; dataOffset: number }
  | { kind: 'mmio'; write: boolean; physAddr: number; len: number }
  | { kind: 'hlt' }
  | { kind: 'shutdown' }
  | { kind: 'intr' }
  | { kind: 'irq-window-open' }
  | { kind: 'fail-entry'; reason: bigint; cpu: number }
  | { kind: 'internal-error'; suberror: number; data: bigint[] }
  | { kind: 'system-event'; type: number }
  | { kind: 'ioapic-eoi'; vector: number }
  | { kind: 'debug' }
  | { kind: 'exception'; exception: number; errorCode: number }
  | { kind: 'other'; reason: number };

export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;
export const KVM_INTERNAL_ERROR_EMULATION = 1;

export class KvmRunPage {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(buffer: ArrayBuffer) {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }
  get exitReason(): number { return this.view.getUint32(8, true); }
  set immediateExit(v: boolean) { this.bytes[1] = v ? 1 : 0; }
  set requestInterruptWindow(v: boolean) { this.bytes[0] = v ? 1 : 0; }
  get readyForInterruptInjection(): boolean { return this.bytes[12] !== 0; }
  get ifFlag(): boolean { return this.bytes[13] !== 0; }

  decode(): KvmExit {
    const v = this.view;
    const reason = v.getUint32(8, true);
    switch (reason) {
      case KVM_EXIT.IO:
        return {
          kind: 'io', write: v.getUint8(32) === KVM_EXIT_IO_OUT, size: v.getUint8(33) as 1 | 2 | 4,
          port: v.getUint16(34, true), count: v.getUint32(36, true), dataOffset: Number(v.getBigUint64(40, true)),
        };
      case KVM_EXIT.MMIO:
        return { kind: 'mmio', physAddr: Number(v.getBigUint64(32, true)), len: v.getUint32(48, true), write: v.getUint8(52) !== 0 };
      case KVM_EXIT.HLT: return { kind: 'hlt' };
      case KVM_EXIT.SHUTDOWN: return { kind: 'shutdown' };
      case KVM_EXIT.INTR: return { kind: 'intr' };
      case KVM_EXIT.IRQ_WINDOW_OPEN: return { kind: 'irq-window-open' };
      case KVM_EXIT.DEBUG: return { kind: 'debug' };
      case KVM_EXIT.EXCEPTION: return { kind: 'exception', exception: v.getUint32(32, true), errorCode: v.getUint32(36, true) };
      case KVM_EXIT.FAIL_ENTRY: return { kind: 'fail-entry', reason: v.getBigUint64(32, true), cpu: v.getUint32(40, true) };
      case KVM_EXIT.INTERNAL_ERROR: {
        const n = Math.min(v.getUint32(36, true), 16);
        return { kind: 'internal-error', suberror: v.getUint32(32, true), data: Array.from({ length: n }, (_, i) => v.getBigUint64(40 + i * 8, true)) };
      }
      case KVM_EXIT.SYSTEM_EVENT: return { kind: 'system-event', type: v.getUint32(32, true) };
      case KVM_EXIT.IOAPIC_EOI: return { kind: 'ioapic-eoi', vector: v.getUint8(32) };
      default: return { kind: 'other', reason };
    }
  }

  /** MMIO data bytes (at offset 40, up to 8). */
  mmioData(): Uint8Array { return this.bytes.subarray(40, 48); }
}
