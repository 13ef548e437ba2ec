// Small guests of our own written in freestanding C (src/vmm/testing/guests/*.c), compiled and
// linked flat at test time with gcc and ld, then packaged like the assembly guests (asm-guests.ts)
// as a tiny bzImage whose 64-bit entry is the guest's first instruction. The image is loaded
// wherever the boot protocol puts it, so the code must be position independent: the build refuses
// an object with absolute relocations.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The guest sources stay in src/ (tsc does not copy them); this file runs from src's sibling build dir. */
function sourcePath(name: string): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, 'guests', `${name}.c`), join(here, '../../../src/vmm/testing/guests', `${name}.c`)];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`guest source ${name}.c not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Why compiling cannot work here, or undefined when gcc, ld and readelf are present. */
export function gccMissing(): string | undefined {
  for (const tool of ['gcc', 'ld', 'readelf']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  return undefined;
}

const CFLAGS = [
  '-ffreestanding', '-nostdlib', '-m64', '-O2', '-fpie', '-fvisibility=hidden', '-mgeneral-regs-only', '-mno-red-zone',
  '-fno-stack-protector', '-fno-asynchronous-unwind-tables', '-fno-jump-tables', '-fno-tree-loop-distribute-patterns',
  '-fcf-protection=none', '-Wall', '-Werror',
];

/** Everything in one output section starting with the entry; .bss becomes zeroes in the flat file. */
const LINKER_SCRIPT = `ENTRY(_start)
SECTIONS {
  . = 0;
  .text : { *(.text.entry) *(.text .text.*) *(.rodata .rodata.*) *(.data .data.*) *(.bss .bss.*) *(COMMON) }
  /DISCARD/ : { *(.eh_frame*) *(.note*) *(.comment) }
}
`;

/** Relocation types relative to the code's own position (x86-64 psABI §4.4); no GOT: a flat image has none. */
const PC_RELATIVE = /^R_X86_64_(PC32|PLT32)$/;

/** Compiles guests/<name>.c into a flat, position-independent binary. */
export function compileGuest(name: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-cguest-'));
  try {
    const obj = join(dir, `${name}.o`);
    const bin = join(dir, `${name}.bin`);
    const script = join(dir, 'flat.ld');
    writeFileSync(script, LINKER_SCRIPT);
    execFileSync('gcc', [...CFLAGS, '-c', '-o', obj, sourcePath(name)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const relocs = execFileSync('readelf', ['-rW', obj], { encoding: 'utf8' });
    const absolute = relocs.split('\n').map((l) => /\b(R_X86_64_\w+)/.exec(l)?.[1]).filter((t) => t !== undefined && !PC_RELATIVE.test(t));
    if (absolute.length > 0) throw new Error(`guest ${name}.c has absolute relocations (${[...new Set(absolute)].join(', ')}): it must be position independent`);
    execFileSync('ld', ['-T', script, '--oformat', 'binary', '-o', bin, obj], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(readFileSync(bin));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
