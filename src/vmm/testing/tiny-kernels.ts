// Tiny "kernels" for machine tests: a synthetic bzImage (arch/x86/boot/testing) whose 64-bit entry
// runs a few instructions of ours, so the machine's power-off, reset, fault and error paths can be
// tested in milliseconds without booting Linux.

import { fakeBzImage } from '../../arch/x86/boot/testing/fake-bzimage.js';

/** Offset of the 64-bit entry (load address + 0x200) inside a fake bzImage with 4 setup sectors. */
const ENTRY_OFFSET_IN_FILE = (4 + 1) * 512 + 0x200;

export function tinyKernel(code: number[]): Uint8Array {
  const image = fakeBzImage({ kernelBytes: 0x4000 });
  image.set(code, ENTRY_OFFSET_IN_FILE);
  return image;
}

const outString = (s: string): number[] => [
  0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8 (COM1)
  ...[...s].flatMap((c) => [0xb0, c.charCodeAt(0), 0xee]), // mov al, c; out dx, al
];

/** Prints "hello from tiny\n" on COM1, then powers off through ACPI PM1a_CNT (SLP_TYP=5, SLP_EN). */
export const POWEROFF_KERNEL = [
  ...outString('hello from tiny\n'),
  0x66, 0xba, 0x04, 0x06, // mov dx, 0x604
  0x66, 0xb8, 0x00, 0x34, // mov ax, 0x3400
  0x66, 0xef, // out dx, ax
  0xf4, // hlt
];

/** Prints "rebooting\n", then resets through port 0xCF9 (the FADT's RESET_REG). */
export const RESET_KERNEL = [
  ...outString('rebooting\n'),
  0x66, 0xba, 0xf9, 0x0c, // mov dx, 0xcf9
  0xb0, 0x06, // mov al, 6
  0xee, // out dx, al
  0xf4, // hlt
];

/** UD2 with an empty IDT: #UD cannot be delivered, nor #DF: a triple fault. */
export const TRIPLE_FAULT_KERNEL = [0x0f, 0x0b];

/** Echoes COM1 input back with a '>' prefix per byte until it reads 'q', then powers off (polling). */
export const ECHO_KERNEL = [
  0x66, 0xba, 0xf9, 0x03, 0xb0, 0x01, 0xee, // mov dx, 0x3f9; mov al, 1; out dx, al (IER: RX data; IF stays 0)
  0x66, 0xba, 0xfd, 0x03, // again: mov dx, 0x3fd (LSR)
  0xec, // in al, dx
  0xa8, 0x01, // test al, 1 (data ready)
  0x74, 0xf7, // jz again
  0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
  0xec, // in al, dx
  0x88, 0xc3, // mov bl, al
  0xb0, 0x3e, 0xee, // mov al, '>'; out dx, al
  0x88, 0xd8, 0xee, // mov al, bl; out dx, al
  0x80, 0xfb, 0x71, // cmp bl, 'q'
  0x75, 0xe5, // jne again
  0x66, 0xba, 0x04, 0x06, 0x66, 0xb8, 0x00, 0x34, 0x66, 0xef, 0xf4, // power off
];
