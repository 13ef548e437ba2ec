// A small AML encoder (ACPI 6.x §20 "ACPI Machine Language Specification"): enough to write a
// DSDT with names, packages, devices, simple methods and resource templates. Every function
// returns the encoded bytes of one term; compose them by passing arrays of terms.

// Opcodes (ACPI 6.x §20.3 "AML Byte Stream Byte Values").
export const ZERO_OP = 0x00;
export const ONE_OP = 0x01;
export const ONES_OP = 0xff;
export const NAME_OP = 0x08;
export const BYTE_PREFIX = 0x0a;
export const WORD_PREFIX = 0x0b;
export const DWORD_PREFIX = 0x0c;
export const STRING_PREFIX = 0x0d;
export const QWORD_PREFIX = 0x0e;
export const SCOPE_OP = 0x10;
export const BUFFER_OP = 0x11;
export const PACKAGE_OP = 0x12;
export const METHOD_OP = 0x14;
export const RETURN_OP = 0xa4;
export const EXT_OP_PREFIX = 0x5b;
export const DEVICE_OP = 0x82; // after EXT_OP_PREFIX
export const ROOT_CHAR = 0x5c; // '\'
export const PARENT_PREFIX_CHAR = 0x5e; // '^'
export const DUAL_NAME_PREFIX = 0x2e;
export const MULTI_NAME_PREFIX = 0x2f;

/** A term: the bytes of one encoded AML object or statement. */
export type Aml = Uint8Array;

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

/**
 * PkgLength (§20.2.4): the length of the package *including* the PkgLength bytes. One byte holds
 * up to 63; longer ones put the byte count - 1 in bits 6..7 of the lead byte, its low nibble in
 * bits 0..3 and the rest, 8 bits at a time, in the following bytes.
 */
export function pkgLength(contentBytes: number): Uint8Array {
  if (contentBytes + 1 <= 0x3f) return bytes(contentBytes + 1);
  for (let extra = 1; extra <= 3; extra++) {
    const total = contentBytes + 1 + extra;
    if (total < 1 << (4 + 8 * extra)) {
      const out = new Uint8Array(1 + extra);
      out[0] = (extra << 6) | (total & 0xf);
      for (let i = 1; i <= extra; i++) out[i] = (total >>> (4 + 8 * (i - 1))) & 0xff;
      return out;
    }
  }
  throw new RangeError(`AML package too large (${contentBytes} bytes)`);
}

/** opcode(s) + PkgLength + body, the shape of Scope, Device, Method, Package and Buffer. */
function pkg(opcode: Uint8Array, body: Uint8Array): Uint8Array {
  return concat([opcode, pkgLength(body.byteLength), body]);
}

/** One NameSeg: up to 4 characters of [A-Z0-9_], padded with '_' (§20.2.2). */
function nameSeg(seg: string): Uint8Array {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new RangeError(`Invalid AML name segment "${seg}"`);
  return new TextEncoder().encode(seg.padEnd(4, '_'));
}

/** NameString (§20.2.2): "\\_SB.COM1", "^FOO", "_S5" ... */
export function nameString(name: string): Uint8Array {
  let i = 0;
  const prefix: number[] = [];
  if (name.startsWith('\\')) {
    prefix.push(ROOT_CHAR);
    i = 1;
  } else {
    while (name[i] === '^') {
      prefix.push(PARENT_PREFIX_CHAR);
      i++;
    }
  }
  const rest = name.slice(i);
  const segs = rest === '' ? [] : rest.split('.').map(nameSeg);
  let path: Uint8Array;
  if (segs.length === 0) path = bytes(ZERO_OP); // NullName
  else if (segs.length === 1) path = segs[0]!;
  else if (segs.length === 2) path = concat([bytes(DUAL_NAME_PREFIX), ...segs]);
  else path = concat([bytes(MULTI_NAME_PREFIX, segs.length), ...segs]);
  return concat([Uint8Array.from(prefix), path]);
}

/**
 * An integer with the shortest encoding (§20.2.3): ZeroOp, OneOp, OnesOp (all ones in 64 bits),
 * then Byte/Word/DWord/QWord prefixes. Numbers beyond 2^53 must be given as bigint.
 */
export function integer(value: number | bigint): Uint8Array {
  const v = BigInt.asUintN(64, BigInt(value));
  if (v === 0n) return bytes(ZERO_OP);
  if (v === 1n) return bytes(ONE_OP);
  if (v === 0xffff_ffff_ffff_ffffn) return bytes(ONES_OP);
  const le = (prefix: number, n: number): Uint8Array => {
    const out = new Uint8Array(1 + n);
    out[0] = prefix;
    for (let i = 0; i < n; i++) out[1 + i] = Number((v >> BigInt(8 * i)) & 0xffn);
    return out;
  };
  if (v <= 0xffn) return le(BYTE_PREFIX, 1);
  if (v <= 0xffffn) return le(WORD_PREFIX, 2);
  if (v <= 0xffff_ffffn) return le(DWORD_PREFIX, 4);
  return le(QWORD_PREFIX, 8);
}

/** A string constant: ASCII characters 0x01..0x7f, NUL-terminated (§20.2.3, String). */
export function string(s: string): Uint8Array {
  if (!/^[\x01-\x7f]*$/.test(s)) throw new RangeError(`AML strings are ASCII without NUL: "${s}"`);
  return concat([bytes(STRING_PREFIX), new TextEncoder().encode(s), bytes(0)]);
}

/**
 * EISAID("PNP0501") as the compressed 32-bit ID (§6.1.5, _HID): three letters of 5 bits each and
 * four hex digits, stored big-endian in the byte order of a little-endian DWord.
 */
export function eisaIdValue(id: string): number {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`Invalid EISA ID "${id}"`);
  const c = (i: number): number => id.charCodeAt(i) & 0x1f;
  const b0 = (c(0) << 2) | (c(1) >> 3);
  const b1 = ((c(1) & 7) << 5) | c(2);
  const b2 = parseInt(id.slice(3, 5), 16);
  const b3 = parseInt(id.slice(5, 7), 16);
  return (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0;
}

export function eisaId(id: string): Uint8Array {
  const v = eisaIdValue(id);
  return bytes(DWORD_PREFIX, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
}

/** Name(name, value). */
export function name(n: string, value: Uint8Array): Uint8Array {
  return concat([bytes(NAME_OP), nameString(n), value]);
}

/** Package(){...} of already encoded elements (at most 255: no VarPackage here). */
export function packageOf(elements: readonly Uint8Array[]): Uint8Array {
  if (elements.length > 0xff) throw new RangeError(`AML package of ${elements.length} elements needs VarPackageOp`);
  return pkg(bytes(PACKAGE_OP), concat([bytes(elements.length), ...elements]));
}

/** Buffer(){...} with the given bytes; its size is the byte count. */
export function buffer(data: Uint8Array): Uint8Array {
  return pkg(bytes(BUFFER_OP), concat([integer(data.byteLength), data]));
}

export function scope(n: string, terms: readonly Uint8Array[]): Uint8Array {
  return pkg(bytes(SCOPE_OP), concat([nameString(n), ...terms]));
}

export function device(n: string, terms: readonly Uint8Array[]): Uint8Array {
  return pkg(bytes(EXT_OP_PREFIX, DEVICE_OP), concat([nameString(n), ...terms]));
}

/** Method(name, argCount, Serialized?) { terms } (§19.6.85, MethodFlags: args 0..2, SerializeFlag 3). */
export function method(n: string, argCount: number, serialized: boolean, terms: readonly Uint8Array[]): Uint8Array {
  if (argCount < 0 || argCount > 7) throw new RangeError(`AML methods take 0..7 arguments, not ${argCount}`);
  const flags = argCount | (serialized ? 1 << 3 : 0);
  return pkg(bytes(METHOD_OP), concat([nameString(n), bytes(flags), ...terms]));
}

/** Return(value). */
export function returnOf(value: Uint8Array): Uint8Array {
  return concat([bytes(RETURN_OP), value]);
}
