// A small WebAssembly binary writer (WebAssembly Core Specification 2.0, §5 "Binary Format"):
// LEB128 integers, the opcodes the translator uses, and a module with one imported memory, an
// imported table or function, and functions placed in the table by an active element segment.

/** Opcodes (§5.4), named as in the text format. */
export const enum Op {
  block = 0x02, loop = 0x03, if = 0x04, else = 0x05, end = 0x0b, br = 0x0c, br_if = 0x0d, return = 0x0f,
  br_table = 0x0e, call = 0x10, call_indirect = 0x11, drop = 0x1a, select = 0x1b,
  local_get = 0x20, local_set = 0x21, local_tee = 0x22,
  i32_load = 0x28, i64_load = 0x29, f64_load = 0x2b,
  i32_load8_u = 0x2d, i64_load8_u = 0x31, i64_load16_u = 0x33, i64_load32_u = 0x35,
  i64_load8_s = 0x30, i64_load16_s = 0x32, i64_load32_s = 0x34,
  i32_store = 0x36, i64_store = 0x37, f64_store = 0x39, i64_store8 = 0x3c, i64_store16 = 0x3d, i64_store32 = 0x3e,
  i32_const = 0x41, i64_const = 0x42, f64_const = 0x44,
  i32_eqz = 0x45, i32_eq = 0x46, i32_ne = 0x47, i32_lt_u = 0x49, i32_gt_s = 0x4a, i32_gt_u = 0x4b, i32_le_u = 0x4d, i32_ge_u = 0x4f,
  i64_eqz = 0x50, i64_eq = 0x51, i64_ne = 0x52, i64_lt_s = 0x53, i64_lt_u = 0x54, i64_gt_u = 0x56, i64_le_s = 0x57, i64_le_u = 0x58,
  f64_eq = 0x61, f64_ne = 0x62, f64_lt = 0x63, f64_le = 0x65,
  i32_popcnt = 0x69, i32_add = 0x6a, i32_sub = 0x6b, i32_mul = 0x6c, i32_and = 0x71, i32_or = 0x72, i32_xor = 0x73,
  i32_shl = 0x74, i32_shr_s = 0x75, i32_shr_u = 0x76, i32_rotl = 0x77, i32_rotr = 0x78,
  i64_clz = 0x79, i64_ctz = 0x7a, i64_popcnt = 0x7b, i64_add = 0x7c, i64_sub = 0x7d, i64_mul = 0x7e, i64_div_s = 0x7f, i64_div_u = 0x80, i64_rem_s = 0x81, i64_rem_u = 0x82, i64_and = 0x83, i64_or = 0x84, i64_xor = 0x85,
  i64_shl = 0x86, i64_shr_s = 0x87, i64_shr_u = 0x88, i64_rotl = 0x89, i64_rotr = 0x8a,
  i32_wrap_i64 = 0xa7, i64_reinterpret_f64 = 0xbd, i64_extend_i32_s = 0xac, i64_extend_i32_u = 0xad, i64_trunc_f64_s = 0xb0, f64_convert_i64_s = 0xb9,
}

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
/** Block type of a structured instruction without results. */
export const VOID = 0x40;

const F64_BITS = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64_BITS.buffer);

/** A growable byte buffer with the encodings of §5.1-§5.2. */
export class Bytes {
  buf: Uint8Array;
  length = 0;

  constructor(initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }

  u8(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  op(...ops: number[]): void {
    this.room(ops.length);
    for (const o of ops) this.buf[this.length++] = o;
  }

  u32(v: number): void {
    this.room(5);
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.buf[this.length++] = b;
    } while (v !== 0);
  }

  /** Signed LEB128 of a 32-bit integer. */
  s32(v: number): void {
    this.room(5);
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { this.buf[this.length++] = b; return; }
      this.buf[this.length++] = b | 0x80;
    }
  }

  /** Signed LEB128 of the 64-bit integer (hi << 32) | lo, from its two 32-bit halves. */
  s64(lo: number, hi: number): void {
    if ((hi | 0) === (lo | 0) >> 31) { this.s32(lo); return; }
    this.room(10);
    let l = lo >>> 0; let h = hi | 0;
    for (;;) {
      const b = l & 0x7f;
      // Arithmetic shift of the 64-bit pair by 7.
      l = ((l >>> 7) | (h << 25)) >>> 0;
      h >>= 7;
      if ((h === 0 && l === 0 && (b & 0x40) === 0) || (h === -1 && l === 0xffffffff && (b & 0x40) !== 0)) { this.buf[this.length++] = b; return; }
      this.buf[this.length++] = b | 0x80;
    }
  }

  f64(v: number): void {
    this.room(8);
    F64_BITS[0] = v; // little-endian hosts only (x86-64, arm64): the bytes are the encoding
    this.buf.set(F64_BYTES, this.length);
    this.length += 8;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  name(s: string): void {
    this.u32(s.length);
    for (let k = 0; k < s.length; k++) this.u8(s.charCodeAt(k));
  }

  /** A section: id, then the byte size of `body`, then `body`. */
  section(id: number, body: Bytes): void {
    this.u8(id);
    this.u32(body.length);
    this.bytes(body.view());
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Function types of a module (§5.3.6): params and results, value types only. */
export interface FuncType { params: number[]; results: number[] }

/**
 * A module importing memory `m.mem` (min = max = `memPages`), unless `tableMin` is -1 table
 * `m.t` (funcref, at least `tableMin` entries), and with `importFunc` (a type index) function
 * `m.h`, which is then function 0; defining `bodies` (each: local declarations and code, without
 * its size) of types `funcTypes`, placed in the table from index `tableBase`, and exporting
 * `exports` (name → function index; defined functions come after the imported one).
 */
export function buildModule(o: {
  types: FuncType[]; funcTypes: number[]; memPages: number; tableMin: number; tableBase: number; bodies: Uint8Array[]; exports?: [string, number][]; importFunc?: number;
  /** More functions after `bodies`, already encoded as code section entries (size, body). */
  moreCode?: { count: number; entries: Uint8Array };
  /** Custom sections placed before the code section (name → payload), e.g. metadata.code.branch_hint. */
  custom?: [string, Bytes][];
}): Uint8Array {
  const m = new Bytes();
  m.op(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
  const s = new Bytes();
  s.u32(o.types.length);
  for (const t of o.types) {
    s.u8(0x60);
    s.u32(t.params.length); for (const p of t.params) s.u8(p);
    s.u32(t.results.length); for (const r of t.results) s.u8(r);
  }
  m.section(1, s);
  const imp = new Bytes();
  imp.u32(1 + (o.tableMin >= 0 ? 1 : 0) + (o.importFunc !== undefined ? 1 : 0));
  imp.name('m'); imp.name('mem'); imp.u8(0x02); imp.u8(0x01); imp.u32(o.memPages); imp.u32(o.memPages);
  if (o.tableMin >= 0) { imp.name('m'); imp.name('t'); imp.u8(0x01); imp.u8(0x70); imp.u8(0x00); imp.u32(o.tableMin); }
  if (o.importFunc !== undefined) { imp.name('m'); imp.name('h'); imp.u8(0x00); imp.u32(o.importFunc); }
  m.section(2, imp);
  const fn = new Bytes();
  fn.u32(o.funcTypes.length);
  for (const t of o.funcTypes) fn.u32(t);
  m.section(3, fn);
  if (o.exports !== undefined) {
    const ex = new Bytes();
    ex.u32(o.exports.length);
    for (const [name, idx] of o.exports) { ex.name(name); ex.u8(0x00); ex.u32(idx); }
    m.section(7, ex);
  }
  if (o.tableBase >= 0) {
    const el = new Bytes();
    el.u32(1);
    el.u8(0x00); el.u8(Op.i32_const); el.s32(o.tableBase); el.u8(Op.end);
    el.u32(o.bodies.length);
    const first = o.importFunc !== undefined ? 1 : 0;
    for (let k = 0; k < o.bodies.length; k++) el.u32(first + k);
    m.section(9, el);
  }
  for (const [name, payload] of o.custom ?? []) {
    // A custom section (§5.5.3): id 0, then its size, which covers the name too.
    const c = new Bytes();
    c.name(name);
    c.bytes(payload.view());
    m.section(0, c);
  }
  const code = new Bytes();
  code.u32(o.bodies.length + (o.moreCode?.count ?? 0));
  for (const b of o.bodies) { code.u32(b.length); code.bytes(b); }
  if (o.moreCode !== undefined) code.bytes(o.moreCode.entries);
  m.section(10, code);
  return m.view().slice();
}
