// Integer SIMD on 128-bit values (SDM Vol. 2, the P* instructions of SSE2).
//
// The operations work in place on two module-level scratch registers: A (destination and first
// source) and B (second source). A handler copies the XMM operands into A32/B32, calls the
// operation, and copies A32 back; tests do the same. Fixed scratch buffers keep the typed-array
// views allocated once and the functions monomorphic. Little-endian layout is assumed for the
// byte/word views, as on every host Node runs on (x86-64, AArch64).

const bufA = new ArrayBuffer(16);
const bufB = new ArrayBuffer(16);
const bufT = new ArrayBuffer(16);
export const A32 = new Uint32Array(bufA);
export const B32 = new Uint32Array(bufB);
const A16 = new Uint16Array(bufA), B16 = new Uint16Array(bufB), T16 = new Uint16Array(bufT);
const A8 = new Uint8Array(bufA), B8 = new Uint8Array(bufB), T8 = new Uint8Array(bufT);
const As32 = new Int32Array(bufA), Bs32 = new Int32Array(bufB);
const As16 = new Int16Array(bufA), Bs16 = new Int16Array(bufB);
const As8 = new Int8Array(bufA), Bs8 = new Int8Array(bufB);
const T32 = new Uint32Array(bufT);

export type SimdOp = () => void;

function satS8(v: number): number { return v > 127 ? 127 : v < -128 ? -128 : v; }
function satU8(v: number): number { return v > 255 ? 255 : v < 0 ? 0 : v; }
function satS16(v: number): number { return v > 32767 ? 32767 : v < -32768 ? -32768 : v; }
function satU16(v: number): number { return v > 65535 ? 65535 : v < 0 ? 0 : v; }

// ---- Add / subtract -------------------------------------------------------------------------

export function paddb(): void { for (let k = 0; k < 16; k++) A8[k] = A8[k]! + B8[k]!; }
export function paddw(): void { for (let k = 0; k < 8; k++) A16[k] = A16[k]! + B16[k]!; }
export function paddd(): void { for (let k = 0; k < 4; k++) A32[k] = A32[k]! + B32[k]!; }
export function paddq(): void {
  for (let k = 0; k < 4; k += 2) {
    const lo = A32[k]! + B32[k]!;
    A32[k] = lo;
    A32[k + 1] = A32[k + 1]! + B32[k + 1]! + (lo > 0xffffffff ? 1 : 0);
  }
}
export function psubb(): void { for (let k = 0; k < 16; k++) A8[k] = A8[k]! - B8[k]!; }
export function psubw(): void { for (let k = 0; k < 8; k++) A16[k] = A16[k]! - B16[k]!; }
export function psubd(): void { for (let k = 0; k < 4; k++) A32[k] = A32[k]! - B32[k]!; }
export function psubq(): void {
  for (let k = 0; k < 4; k += 2) {
    const a = A32[k]!, b = B32[k]!;
    A32[k] = a - b;
    A32[k + 1] = A32[k + 1]! - B32[k + 1]! - (a < b ? 1 : 0);
  }
}
export function paddsb(): void { for (let k = 0; k < 16; k++) As8[k] = satS8(As8[k]! + Bs8[k]!); }
export function paddsw(): void { for (let k = 0; k < 8; k++) As16[k] = satS16(As16[k]! + Bs16[k]!); }
export function paddusb(): void { for (let k = 0; k < 16; k++) A8[k] = satU8(A8[k]! + B8[k]!); }
export function paddusw(): void { for (let k = 0; k < 8; k++) A16[k] = satU16(A16[k]! + B16[k]!); }
export function psubsb(): void { for (let k = 0; k < 16; k++) As8[k] = satS8(As8[k]! - Bs8[k]!); }
export function psubsw(): void { for (let k = 0; k < 8; k++) As16[k] = satS16(As16[k]! - Bs16[k]!); }
export function psubusb(): void { for (let k = 0; k < 16; k++) A8[k] = satU8(A8[k]! - B8[k]!); }
export function psubusw(): void { for (let k = 0; k < 8; k++) A16[k] = satU16(A16[k]! - B16[k]!); }

// ---- Multiply -------------------------------------------------------------------------------

export function pmullw(): void { for (let k = 0; k < 8; k++) A16[k] = Math.imul(A16[k]!, B16[k]!); }
export function pmulhw(): void { for (let k = 0; k < 8; k++) A16[k] = (As16[k]! * Bs16[k]!) >> 16; }
export function pmulhuw(): void { for (let k = 0; k < 8; k++) A16[k] = (A16[k]! * B16[k]!) >>> 16; }
/** Unsigned 32x32 -> 64 multiply of the even dword lanes (PMULUDQ). */
export function pmuludq(): void {
  for (let k = 0; k < 4; k += 2) {
    const a = A32[k]!, b = B32[k]!;
    const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
    const ll = al * bl, lh = al * bh, hl = ah * bl;
    const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
    A32[k] = Math.imul(a, b);
    A32[k + 1] = ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16);
  }
}
export function pmaddwd(): void {
  for (let k = 0; k < 4; k++) {
    As32[k] = As16[2 * k]! * Bs16[2 * k]! + As16[2 * k + 1]! * Bs16[2 * k + 1]!;
  }
}

// ---- Average, min, max, SAD -----------------------------------------------------------------

export function pavgb(): void { for (let k = 0; k < 16; k++) A8[k] = (A8[k]! + B8[k]! + 1) >>> 1; }
export function pavgw(): void { for (let k = 0; k < 8; k++) A16[k] = (A16[k]! + B16[k]! + 1) >>> 1; }
export function pminub(): void { for (let k = 0; k < 16; k++) if (B8[k]! < A8[k]!) A8[k] = B8[k]!; }
export function pmaxub(): void { for (let k = 0; k < 16; k++) if (B8[k]! > A8[k]!) A8[k] = B8[k]!; }
export function pminsw(): void { for (let k = 0; k < 8; k++) if (Bs16[k]! < As16[k]!) As16[k] = Bs16[k]!; }
export function pmaxsw(): void { for (let k = 0; k < 8; k++) if (Bs16[k]! > As16[k]!) As16[k] = Bs16[k]!; }
export function psadbw(): void {
  for (let h = 0; h < 2; h++) {
    let sum = 0;
    for (let k = 8 * h; k < 8 * h + 8; k++) sum += Math.abs(A8[k]! - B8[k]!);
    A32[2 * h] = sum;
    A32[2 * h + 1] = 0;
  }
}

// ---- Compare and logic ----------------------------------------------------------------------

export function pcmpeqb(): void { for (let k = 0; k < 16; k++) A8[k] = A8[k] === B8[k] ? 0xff : 0; }
export function pcmpeqw(): void { for (let k = 0; k < 8; k++) A16[k] = A16[k] === B16[k] ? 0xffff : 0; }
export function pcmpeqd(): void { for (let k = 0; k < 4; k++) A32[k] = A32[k] === B32[k] ? 0xffffffff : 0; }
export function pcmpgtb(): void { for (let k = 0; k < 16; k++) A8[k] = As8[k]! > Bs8[k]! ? 0xff : 0; }
export function pcmpgtw(): void { for (let k = 0; k < 8; k++) A16[k] = As16[k]! > Bs16[k]! ? 0xffff : 0; }
export function pcmpgtd(): void { for (let k = 0; k < 4; k++) A32[k] = As32[k]! > Bs32[k]! ? 0xffffffff : 0; }
export function pand(): void { for (let k = 0; k < 4; k++) A32[k] = A32[k]! & B32[k]!; }
export function pandn(): void { for (let k = 0; k < 4; k++) A32[k] = ~A32[k]! & B32[k]!; }
export function por(): void { for (let k = 0; k < 4; k++) A32[k] = A32[k]! | B32[k]!; }
export function pxor(): void { for (let k = 0; k < 4; k++) A32[k] = A32[k]! ^ B32[k]!; }

// ---- Pack / unpack --------------------------------------------------------------------------

export function packsswb(): void {
  for (let k = 0; k < 8; k++) { T8[k] = satS8(As16[k]!); T8[k + 8] = satS8(Bs16[k]!); }
  A32.set(T32);
}
export function packuswb(): void {
  for (let k = 0; k < 8; k++) { T8[k] = satU8(As16[k]!); T8[k + 8] = satU8(Bs16[k]!); }
  A32.set(T32);
}
export function packssdw(): void {
  for (let k = 0; k < 4; k++) { T16[k] = satS16(As32[k]!); T16[k + 4] = satS16(Bs32[k]!); }
  A32.set(T32);
}
export function punpcklbw(): void { for (let k = 0; k < 8; k++) { T8[2 * k] = A8[k]!; T8[2 * k + 1] = B8[k]!; } A32.set(T32); }
export function punpckhbw(): void { for (let k = 0; k < 8; k++) { T8[2 * k] = A8[k + 8]!; T8[2 * k + 1] = B8[k + 8]!; } A32.set(T32); }
export function punpcklwd(): void { for (let k = 0; k < 4; k++) { T16[2 * k] = A16[k]!; T16[2 * k + 1] = B16[k]!; } A32.set(T32); }
export function punpckhwd(): void { for (let k = 0; k < 4; k++) { T16[2 * k] = A16[k + 4]!; T16[2 * k + 1] = B16[k + 4]!; } A32.set(T32); }
/** Also UNPCKLPS. */
export function punpckldq(): void { A32[3] = B32[1]!; A32[2] = A32[1]!; A32[1] = B32[0]!; }
/** Also UNPCKHPS. */
export function punpckhdq(): void { A32[0] = A32[2]!; A32[1] = B32[2]!; A32[2] = A32[3]!; A32[3] = B32[3]!; }
/** Also UNPCKLPD and MOVLHPS. */
export function punpcklqdq(): void { A32[2] = B32[0]!; A32[3] = B32[1]!; }
/** Also UNPCKHPD. */
export function punpckhqdq(): void { A32[0] = A32[2]!; A32[1] = A32[3]!; A32[2] = B32[2]!; A32[3] = B32[3]!; }

// ---- Shifts ---------------------------------------------------------------------------------

/** Shift count of the register/memory forms: the low quadword of B, saturated (SDM Vol. 2 PSRLW). */
export function countFromB(): number { return B32[1] !== 0 || B32[0]! > 255 ? 255 : B32[0]!; }

export function psrlw(n: number): void { for (let k = 0; k < 8; k++) A16[k] = n > 15 ? 0 : A16[k]! >>> n; }
export function psrld(n: number): void { for (let k = 0; k < 4; k++) A32[k] = n > 31 ? 0 : A32[k]! >>> n; }
export function psraw(n: number): void { const s = n > 15 ? 15 : n; for (let k = 0; k < 8; k++) As16[k] = As16[k]! >> s; }
export function psrad(n: number): void { const s = n > 31 ? 31 : n; for (let k = 0; k < 4; k++) As32[k] = As32[k]! >> s; }
export function psllw(n: number): void { for (let k = 0; k < 8; k++) A16[k] = n > 15 ? 0 : A16[k]! << n; }
export function pslld(n: number): void { for (let k = 0; k < 4; k++) A32[k] = n > 31 ? 0 : A32[k]! << n; }
export function psrlq(n: number): void {
  for (let k = 0; k < 4; k += 2) {
    const lo = A32[k]!, hi = A32[k + 1]!;
    if (n > 63) { A32[k] = 0; A32[k + 1] = 0; } else if (n >= 32) { A32[k] = hi >>> (n - 32); A32[k + 1] = 0; } else if (n > 0) { A32[k] = (lo >>> n) | (hi << (32 - n)); A32[k + 1] = hi >>> n; }
  }
}
export function psllq(n: number): void {
  for (let k = 0; k < 4; k += 2) {
    const lo = A32[k]!, hi = A32[k + 1]!;
    if (n > 63) { A32[k] = 0; A32[k + 1] = 0; } else if (n >= 32) { A32[k + 1] = lo << (n - 32); A32[k] = 0; } else if (n > 0) { A32[k + 1] = (hi << n) | (lo >>> (32 - n)); A32[k] = lo << n; }
  }
}
/** PSRLDQ: byte shift right of the whole register; counts above 15 clear it. */
export function psrldq(n: number): void {
  for (let k = 0; k < 16; k++) T8[k] = k + n < 16 ? A8[k + n]! : 0;
  A32.set(T32);
}
export function pslldq(n: number): void {
  for (let k = 0; k < 16; k++) T8[k] = k - n >= 0 ? A8[k - n]! : 0;
  A32.set(T32);
}

// ---- Shuffles and masks ---------------------------------------------------------------------

/** PSHUFD A <- B by imm. */
export function pshufd(imm: number): void {
  for (let k = 0; k < 4; k++) T32[k] = B32[(imm >>> (2 * k)) & 3]!;
  A32.set(T32);
}
export function pshuflw(imm: number): void {
  for (let k = 0; k < 4; k++) T16[k] = B16[(imm >>> (2 * k)) & 3]!;
  A32[0] = T32[0]!; A32[1] = T32[1]!; A32[2] = B32[2]!; A32[3] = B32[3]!;
}
export function pshufhw(imm: number): void {
  for (let k = 0; k < 4; k++) T16[k + 4] = B16[4 + ((imm >>> (2 * k)) & 3)]!;
  A32[0] = B32[0]!; A32[1] = B32[1]!; A32[2] = T32[2]!; A32[3] = T32[3]!;
}
/** SHUFPS: two lanes from A, two from B. */
export function shufps(imm: number): void {
  T32[0] = A32[imm & 3]!; T32[1] = A32[(imm >>> 2) & 3]!; T32[2] = B32[(imm >>> 4) & 3]!; T32[3] = B32[(imm >>> 6) & 3]!;
  A32.set(T32);
}
export function shufpd(imm: number): void {
  const a = (imm & 1) * 2, b = ((imm >>> 1) & 1) * 2;
  T32[0] = A32[a]!; T32[1] = A32[a + 1]!; T32[2] = B32[b]!; T32[3] = B32[b + 1]!;
  A32.set(T32);
}
/** PMOVMSKB of B: the top bit of each byte. */
export function pmovmskb(): number {
  let m = 0;
  for (let k = 0; k < 16; k++) m |= (B8[k]! >>> 7) << k;
  return m;
}
export function movmskps(): number {
  return (B32[0]! >>> 31) | ((B32[1]! >>> 31) << 1) | ((B32[2]! >>> 31) << 2) | ((B32[3]! >>> 31) << 3);
}
export function movmskpd(): number { return (B32[1]! >>> 31) | ((B32[3]! >>> 31) << 1); }
export function pextrw(imm: number): number { return A16[imm & 7]!; }
export function pinsrw(value: number, imm: number): void { A16[imm & 7] = value; }
/** Byte k of B, for MASKMOVDQU. */
export function byteOfB(k: number): number { return B8[k]!; }
export function byteOfA(k: number): number { return A8[k]!; }
