// A 64 KiB firmware image for QEMU that recreates, from the reset vector, the vCPU state
// loadLinux() set in CpuState: real mode -> LGDT -> CR4/CR3/EFER/CR0 -> far jump to the 64-bit
// code selector -> data selectors, RSI, RSP -> jump to the kernel entry. It lets a test run a real
// kernel under QEMU (an independent CPU) on exactly the memory image our loader built.
// Encodings: Intel SDM Vol. 2 (LGDT 0F 01 /2, MOV CRn 0F 22 /r, RDMSR 0F 32, WRMSR 0F 30,
// JMP ptr16:32 EA with operand-size prefix, MOV Sreg 8E /r, MOV r64 imm64 REX.W B8+r, JMP r/m64 FF /4).

import { Reg, Seg, type CpuState } from '../../../../cpu/state.js';

export const STUB_FIRMWARE_BYTES = 0x10000;
/** The firmware is mapped just below 4 GiB; the reset vector is its last 16 bytes. */
const ROM_BASE = 0xffff_0000;
const RESET_VECTOR_OFFSET = 0xfff0;
const CODE16_OFFSET = 0xf000;
const CODE64_OFFSET = 0xf100;
const GDT_DESCRIPTOR_OFFSET = 0xff00;
const MSR_EFER = 0xc0000080;
const EFER_LME = 1 << 8;

const le16 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff];
const le32 = (n: number): number[] => [...le16(n & 0xffff), ...le16(n >>> 16)];
const le64 = (lo: number, hi: number): number[] => [...le32(lo >>> 0), ...le32(hi >>> 0)];

export function buildStubFirmware(cpu: CpuState): Uint8Array {
  const rom = new Uint8Array(STUB_FIRMWARE_BYTES);
  // JMP rel16 from the reset vector (CS base 0xffff0000) to the 16-bit code.
  rom.set([0xe9, ...le16(CODE16_OFFSET - (RESET_VECTOR_OFFSET + 3))], RESET_VECTOR_OFFSET);
  rom.set([...le16(cpu.gdtr.limit), ...le32(cpu.gdtr.base)], GDT_DESCRIPTOR_OFFSET);
  rom.set([
    0xfa, // cli
    0x66, 0x2e, 0x0f, 0x01, 0x16, ...le16(GDT_DESCRIPTOR_OFFSET), // o32 lgdt cs:[desc]
    0x66, 0xb8, ...le32(cpu.cr4), 0x0f, 0x22, 0xe0, // mov eax, cr4 value; mov cr4, eax
    0x66, 0xb8, ...le32(cpu.cr3), 0x0f, 0x22, 0xd8, // mov cr3, eax
    0x66, 0xb9, ...le32(MSR_EFER), 0x0f, 0x32, // mov ecx, EFER; rdmsr
    0x66, 0x0d, ...le32(cpu.efer & EFER_LME), 0x0f, 0x30, // or eax, LME; wrmsr
    0x66, 0xb8, ...le32(cpu.cr0 >>> 0), 0x0f, 0x22, 0xc0, // mov cr0, eax: PE and PG at once
    0x66, 0xea, ...le32(ROM_BASE + CODE64_OFFSET), ...le16(cpu.seg[Seg.CS]!.selector), // jmp far
  ], CODE16_OFFSET);
  const ds = cpu.seg[Seg.DS]!.selector;
  rom.set([
    0xb8, ...le32(ds), // mov eax, ds selector
    0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0x8e, 0xe0, 0x8e, 0xe8, // mov ds/es/ss/fs/gs, ax
    0x48, 0xbe, ...le64(cpu.gpr[Reg.RSI * 2]!, cpu.gpr[Reg.RSI * 2 + 1]!), // mov rsi, imm64
    0x48, 0xbc, ...le64(cpu.gpr[Reg.RSP * 2]!, cpu.gpr[Reg.RSP * 2 + 1]!), // mov rsp, imm64
    0x48, 0xb8, ...le64(cpu.rip >>> 0, Math.floor(cpu.rip / 2 ** 32) >>> 0), // mov rax, entry
    0xff, 0xe0, // jmp rax
  ], CODE64_OFFSET);
  return rom;
}
