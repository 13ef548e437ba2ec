// CpuState (the soft engine's architectural state, which the boot loader fills) converted to KVM's
// kvm_regs/kvm_sregs and back, so that both engines start from the same state and a KVM vCPU's state
// can later be saved in the engine-neutral form. Segment attributes: CpuState keeps the descriptor's
// access byte in bits 0..7 and the flags nibble (AVL, L, D/B, G) in bits 12..15 (SDM Vol. 3A §3.4.5),
// the same fields kvm_segment spells out one per byte.

import { CpuState, type SegmentCache, Seg } from '../cpu/state.js';
import { getRflags, setArithFlags } from '../cpu/flags.js';
import { KVM_REGS_ORDER, type KvmRegs, type KvmSegment, type KvmSregs } from '../kvm/structs.js';

/** kvm_regs field → GPR number in CpuState (Reg: RAX=0, RCX=1, RDX=2, RBX=3, RSP=4, RBP=5, RSI=6, RDI=7). */
const GPR_OF: Record<Exclude<(typeof KVM_REGS_ORDER)[number], 'rip' | 'rflags'>, number> = {
  rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7,
  r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15,
};
const ARITH_MASK = 0x8d5; // CF PF AF ZF SF OF

/** A canonical linear address held as a JS number (possibly negative) → u64. */
const u64 = (n: number): bigint => BigInt.asUintN(64, BigInt(n));
/** u64 → the CpuState number form: sign-extended from bit 47 when canonical-high. */
const canonical = (b: bigint): number => Number(BigInt.asIntN(64, b));

export function segmentToKvm(s: SegmentCache, unusable = false): KvmSegment {
  const a = s.attr;
  return {
    base: u64(s.base), limit: s.limit >>> 0, selector: s.selector & 0xffff,
    type: a & 0xf, s: (a >> 4) & 1, dpl: (a >> 5) & 3, present: (a >> 7) & 1,
    avl: (a >> 12) & 1, l: (a >> 13) & 1, db: (a >> 14) & 1, g: (a >> 15) & 1,
    unusable: unusable ? 1 : 0,
  };
}

export function segmentFromKvm(k: KvmSegment): SegmentCache {
  const present = k.unusable ? 0 : k.present;
  const attr = (k.type & 0xf) | (k.s << 4) | (k.dpl << 5) | (present << 7) |
    (k.avl << 12) | (k.l << 13) | (k.db << 14) | (k.g << 15);
  return { selector: k.selector, base: canonical(k.base), limit: k.limit >>> 0, attr };
}

export function cpuStateToKvmRegs(c: CpuState): KvmRegs {
  const r = {} as KvmRegs;
  for (const [name, i] of Object.entries(GPR_OF) as [keyof typeof GPR_OF, number][]) {
    r[name] = (BigInt(c.gpr[2 * i + 1]!) << 32n) | BigInt(c.gpr[2 * i]!);
  }
  r.rip = u64(c.rip);
  r.rflags = BigInt(getRflags(c) >>> 0);
  return r;
}

export function cpuStateToKvmSregs(c: CpuState, base: KvmSregs): KvmSregs {
  const seg = (i: Seg): KvmSegment => segmentToKvm(c.seg[i]!);
  return {
    cs: seg(Seg.CS), ds: seg(Seg.DS), es: seg(Seg.ES), fs: seg(Seg.FS), gs: seg(Seg.GS), ss: seg(Seg.SS),
    tr: segmentToKvm(c.tr), ldt: segmentToKvm(c.ldtr, c.ldtr.selector === 0 && (c.cr0 & 1) !== 0),
    gdt: { base: u64(c.gdtr.base), limit: c.gdtr.limit },
    idt: { base: u64(c.idtr.base), limit: c.idtr.limit },
    cr0: BigInt(c.cr0 >>> 0), cr2: u64(c.cr2), cr3: BigInt(c.cr3), cr4: BigInt(c.cr4 >>> 0), cr8: BigInt(c.cr8),
    efer: BigInt(c.efer >>> 0),
    // The APIC base is KVM's to keep per vCPU (BSP flag on vCPU 0); CpuState's agrees by construction.
    apicBase: base.apicBase,
    interruptBitmap: base.interruptBitmap,
  };
}

/** Back to CpuState (snapshots of a KVM vCPU in the engine-neutral form). */
export function kvmToCpuState(regs: KvmRegs, sregs: KvmSregs, into: CpuState): CpuState {
  for (const [name, i] of Object.entries(GPR_OF) as [keyof typeof GPR_OF, number][]) {
    const v = regs[name];
    into.gpr[2 * i] = Number(v & 0xffffffffn);
    into.gpr[2 * i + 1] = Number(v >> 32n);
  }
  into.rip = canonical(regs.rip);
  const fl = Number(regs.rflags & 0xffffffffn);
  into.flagsRest = fl & ~ARITH_MASK;
  setArithFlags(into, fl & ARITH_MASK);
  const segs: [Seg, KvmSegment][] = [[Seg.ES, sregs.es], [Seg.CS, sregs.cs], [Seg.SS, sregs.ss], [Seg.DS, sregs.ds], [Seg.FS, sregs.fs], [Seg.GS, sregs.gs]];
  for (const [i, k] of segs) into.seg[i] = segmentFromKvm(k);
  into.tr = segmentFromKvm(sregs.tr);
  into.ldtr = segmentFromKvm(sregs.ldt);
  into.gdtr = { base: canonical(sregs.gdt.base), limit: sregs.gdt.limit };
  into.idtr = { base: canonical(sregs.idt.base), limit: sregs.idt.limit };
  into.cr0 = Number(sregs.cr0 & 0xffffffffn);
  into.cr2 = canonical(sregs.cr2);
  into.cr3 = Number(sregs.cr3);
  into.cr4 = Number(sregs.cr4 & 0xffffffffn);
  into.cr8 = Number(sregs.cr8);
  into.efer = Number(sregs.efer & 0xffffffffn);
  into.apicBase = sregs.apicBase;
  return into;
}
