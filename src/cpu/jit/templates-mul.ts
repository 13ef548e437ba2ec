// Block-JIT templates for IMUL (two- and three-operand forms, 32/64-bit) and BSWAP: the
// multiplies in kernel hashing and bignum loops, which otherwise call their handler from
// compiled code. They do exactly what ops-muldiv.ts / ops-bit.ts do (same operand reads, same
// materialized flags), so compiled and interpreted blocks agree bit for bit.
//
// IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B) keep only the low half of the product
// (SDM Vol. 2 IMUL): CF = OF = "the signed product did not fit", SF/ZF/PF from the low half
// (undefined by the SDM; mulFlags' choice), AF = 0.

import type { DecodedInsn } from '../decoder.js';
import { PARITY } from '../flags.js';
import { OpMap } from '../insn.js';
import { imulOverflow64, mul64, prod } from '../ops-muldiv.js';
import type { Template, TemplateContext } from './templates.js';

/**
 * JS statements computing the low 64 bits (rl, rh) of (a, ah) * (b, bh) on uint32 halves: the
 * low words' product split at bit 16 of b so every partial product is exact in a double
 * (< 2^48), plus the cross terms modulo 2^32 (Math.imul).
 */
export function mulLow64Code(a: string, ah: string, b: string, bh: string, rl: string, rh: string, n: string): string {
  const pa = `pa${n}`; const pb = `pb${n}`;
  return `const ${pa} = ${a} * (${b} & 0xffff), ${pb} = ${a} * (${b} >>> 16);` +
    ` const ${rl} = Math.imul(${a}, ${b}) >>> 0;` +
    ` const ${rh} = (((${pb} / 65536) >>> 0) + (((${pa} + (${pb} & 0xffff) * 65536) / 4294967296) >>> 0)` +
    ` + Math.imul(${a}, ${bh}) + Math.imul(${ah}, ${b})) >>> 0;`;
}

function tpl(code: string, o: Partial<Template>): Template {
  return { code, mayThrow: false, memAccess: false, needsRip: false, branch: false, flags: 'none', ...o };
}

/**
 * IMUL r32/r64, r/m (0F AF) and IMUL r, r/m, imm (69, 6B); null for other sizes and forms.
 * `mem` wraps a body that reads `a<n>` (the operand's address) in the memory fast path.
 */
export function imulTemplate(
  i: DecodedInsn, ctx: TemplateContext, n: string, live: boolean,
  mem: (body: string) => Template | null,
): Template | null {
  const size = i.opSize;
  if (size !== 4 && size !== 8) return null;
  const threeOp = i.map === OpMap.Primary;
  const a = `ia${n}`; const ah = `iah${n}`; const b = `ib${n}`; const bh = `ibh${n}`;
  const rl = `irl${n}`; const rh = `irh${n}`;
  // Source operand (r/m) first, as the handlers read it.
  let src: string;
  if (i.hasMem) src = size === 8 ? `const ${a} = c.mem.read64(a${n}), ${ah} = c.mem.hi;` : `const ${a} = c.mem.read32(a${n}), ${ah} = 0;`;
  else src = size === 8 ? `const ${a} = g[${i.rm << 1}], ${ah} = g[${(i.rm << 1) + 1}];` : `const ${a} = g[${i.rm << 1}], ${ah} = 0;`;
  const k = i.reg << 1;
  let other: string;
  if (threeOp) other = `const ${b} = ${i.imm >>> 0}, ${bh} = ${size === 8 ? i.immHi >>> 0 : 0};`;
  else other = size === 8 ? `const ${b} = g[${k}], ${bh} = g[${k + 1}];` : `const ${b} = g[${k}], ${bh} = 0;`;
  let calc: string;
  let flags = '';
  const par = live ? ctx.constant(PARITY) : '';
  if (size === 8) {
    calc = mulLow64Code(a, ah, b, bh, rl, rh, n);
    if (live) {
      const ov = ctx.constant(imulOverflow64);
      flags = ` c.lazyFlags = ${par}[${rl} & 0xff] | (${ov}(${a}, ${ah}, ${b}, ${bh}) ? 0x801 : 0) | ((${rl} | ${rh}) === 0 ? 0x40 : 0) | ((${rh} >>> 31) << 7); c.lazyOp = 0;`;
    }
  } else {
    calc = `const ${rl} = Math.imul(${a}, ${b}) >>> 0, ${rh} = 0;`;
    // The double product of two int32s is exact below 2^53 and far outside int32 above, so it
    // equals the int32 result exactly when the product fits.
    if (live) flags = ` c.lazyFlags = ${par}[${rl} & 0xff] | ((${a} | 0) * (${b} | 0) !== (${rl} | 0) ? 0x801 : 0) | (${rl} === 0 ? 0x40 : 0) | ((${rl} >>> 31) << 7); c.lazyOp = 0;`;
  }
  const store = ` g[${k}] = ${rl}; g[${k + 1}] = ${rh};`;
  const body = `${src} ${other} ${calc}${flags}${store}`;
  ctx.flagSrc = null;
  if (i.hasMem) return mem(body);
  return tpl(body, { flags: 'write' });
}

/** BSWAP r32/r64 (0F C8+r); the undefined 16-bit form stays with the handler. */
export function bswapTemplate(i: DecodedInsn): Template | null {
  const k = i.rm << 1;
  const sw = (x: string): string => `(((${x} & 0xff) << 24) | ((${x} & 0xff00) << 8) | ((${x} >>> 8) & 0xff00) | (${x} >>> 24)) >>> 0`;
  if (i.opSize === 8) return tpl(`{ const lo = g[${k}]; g[${k}] = ${sw(`g[${k + 1}]`)}; g[${k + 1}] = ${sw('lo')}; }`, {});
  if (i.opSize === 4) return tpl(`g[${k}] = ${sw(`g[${k}]`)}; g[${k + 1}] = 0;`, {});
  return null;
}

/**
 * MUL / IMUL r/m64 (F7 /4, /5): RDX:RAX = RAX * r/m64 through ops-muldiv's mul64 (the bignum
 * inner loops: mpihelp_*mul_1), flags as mulFlags: CF = OF = the high half is not the extension
 * of the low one, SF/ZF/PF from the low half.
 */
export function mulWideTemplate(i: DecodedInsn, ctx: TemplateContext, n: string, live: boolean, mem: (body: string) => Template | null): Template | null {
  if (i.opSize !== 8) return null;
  const signed = ((i.modrm >> 3) & 7) === 5;
  const m = ctx.constant(mul64); const p = ctx.constant(prod);
  const k = i.rm << 1;
  const src = i.hasMem ? `const b${n} = c.mem.read64(a${n}), bh${n} = c.mem.hi;` : `const b${n} = g[${k}], bh${n} = g[${k + 1}];`;
  let body = `${src} ${m}(g[0], g[1], b${n}, bh${n}, ${signed}); const l${n} = ${p}[0], lh${n} = ${p}[1], h${n} = ${p}[2], hh${n} = ${p}[3];`;
  body += ` g[0] = l${n}; g[1] = lh${n}; g[4] = h${n}; g[5] = hh${n};`;
  if (live) {
    const par = ctx.constant(PARITY);
    const ext = signed ? `((lh${n} | 0) < 0 ? 0xffffffff : 0)` : '0';
    body += ` const x${n} = ${ext}; c.lazyFlags = ${par}[l${n} & 0xff] | (h${n} !== x${n} || hh${n} !== x${n} ? 0x801 : 0) | ((lh${n} >>> 31) << 7) | (l${n} === 0 && lh${n} === 0 ? 0x40 : 0); c.lazyOp = 0;`;
  }
  ctx.flagSrc = null;
  if (i.hasMem) return mem(body);
  return tpl(body, { flags: 'write' });
}
