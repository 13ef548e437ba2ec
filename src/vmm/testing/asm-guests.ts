// Small guests of our own written in assembly (src/vmm/testing/guests/*.S), assembled and linked
// flat at test time with binutils' `as` and `ld`, then packaged as a tiny bzImage whose 64-bit
// entry is the guest's first instruction, so that `tshv run --kernel` boots them on either engine.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakeBzImage } from '../../arch/x86/boot/testing/fake-bzimage.js';

/** Offset of the 64-bit entry (load address + 0x200) in a fake bzImage with 4 setup sectors. */
const ENTRY_OFFSET_IN_FILE = (4 + 1) * 512 + 0x200;

/** The guest sources stay in src/ (tsc does not copy them); this file runs from src's sibling build dir. */
function sourcePath(name: string): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, 'guests', `${name}.S`), join(here, '../../../src/vmm/testing/guests', `${name}.S`)];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`guest source ${name}.S not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Why assembling cannot work here, or undefined when `as` and `ld` are present. */
export function binutilsMissing(): string | undefined {
  for (const tool of ['as', 'ld']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      return `${tool} (binutils) is not installed`;
    }
  }
  return undefined;
}

/** Assembles guests/<name>.S into a flat, position-independent binary. */
export function assembleGuest(name: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-guest-'));
  try {
    const obj = join(dir, `${name}.o`);
    const bin = join(dir, `${name}.bin`);
    execFileSync('as', ['--64', '-o', obj, sourcePath(name)], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('ld', ['-Ttext=0', '-e', '_start', '--oformat', 'binary', '-o', bin, obj], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(readFileSync(bin));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A flat 64-bit guest wrapped as a bzImage entered at its first byte. */
export function guestBzImage(code: Uint8Array): Uint8Array {
  const kernelBytes = Math.max(0x4000, Math.ceil((0x200 + code.byteLength) / 0x1000) * 0x1000);
  const image = fakeBzImage({ kernelBytes });
  image.set(code, ENTRY_OFFSET_IN_FILE);
  return image;
}
