// Boots the real Debian kernel under QEMU (TCG, an independent CPU and chipset) on exactly the
// memory image loadLinux() builds: our zero page, e820 map, ACPI tables, GDT and page tables, and
// the vCPU state of CpuState replayed by a stub firmware. QEMU's "microvm" machine is used with
// its own ACPI off, so every table Linux reads is ours. Skips without qemu-system-x86_64 or a kernel.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuState } from '../../../cpu/state.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { PCI_HOLE_END, PCI_HOLE_START } from '../layout.js';
import { loadLinux } from './loader.js';
import { buildStubFirmware } from './testing/qemu-stub-firmware.js';
import { findRealKernel, NO_REAL_KERNEL } from './testing/real-kernel.js';

const QEMU = 'qemu-system-x86_64';
const haveQemu = spawnSync('sh', ['-c', `command -v ${QEMU}`]).status === 0;
const kernel = findRealKernel();
const skip = !haveQemu ? `${QEMU} not installed (apt-get install qemu-system-x86)` : kernel === undefined ? NO_REAL_KERNEL : false;

const MEM_MIB = 256;
const CPUS = 2;
const BOOT_TIMEOUT_MS = 240_000;
/** Low memory written to QEMU: everything below the stub firmware's copy at 0xf0000. */
const LOW_BYTES = 0xf0000;

/** Runs QEMU until `done` matches its serial output (or it exits / times out); returns the output. */
function runQemu(args: string[], done: RegExp): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const finish = (): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(out);
    };
    const timer = setTimeout(finish, BOOT_TIMEOUT_MS);
    const onData = (b: Buffer): void => {
      out += b.toString('latin1');
      if (done.test(out)) finish();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', finish);
  });
}

/** Builds the memory image with loadLinux, boots it under QEMU, returns the serial output. */
async function bootUnderQemu(decompressOnHost: boolean): Promise<{ out: string; hasInitrd: boolean; format: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-qemu-boot-'));
  try {
    const memSizeBytes = MEM_MIB * 0x10_0000;
    const mem = new GuestMemory(new Uint8Array(memSizeBytes), GuestMemory.layout(memSizeBytes, PCI_HOLE_START, PCI_HOLE_END));
    const cpus = Array.from({ length: CPUS }, (_, i) => new CpuState(i));
    const image = new Uint8Array(readFileSync(kernel!.vmlinuz));
    const initrd = kernel!.initrd === undefined ? undefined : new Uint8Array(readFileSync(kernel!.initrd));
    const info = loadLinux(mem, cpus, {
      kernel: image, kernelName: kernel!.vmlinuz, ...(initrd === undefined ? {} : { initrd }),
      cmdline: 'console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1', memSizeBytes, cpuCount: CPUS,
      decompressOnHost,
    });
    const put = (file: string, data: Uint8Array): string => {
      writeFileSync(join(dir, file), data);
      return join(dir, file);
    };
    const blobs = [
      { file: put('low.bin', mem.read(0, LOW_BYTES)), addr: 0 },
    ];
    // The bzImage path copied the file's kernel part; the decompressed path all ELF segments.
    const kernelBytes = info.format === 'bzImage' ? image.byteLength : info.kernelEnd - info.loadAddress;
    blobs.push({ file: put('kernel.bin', mem.read(info.loadAddress, kernelBytes)), addr: info.loadAddress });
    if (info.initrdSizeBytes > 0) {
      blobs.push({ file: put('initrd.bin', mem.read(info.initrdAddress, info.initrdSizeBytes)), addr: info.initrdAddress });
    }
    const args = [
      '-machine', 'microvm,acpi=off,pit=on,pic=on,rtc=on,isa-serial=on', '-cpu', 'max',
      '-m', `${MEM_MIB}M`, '-smp', String(CPUS), '-nographic', '-no-reboot',
      '-bios', put('bios.bin', buildStubFirmware(cpus[0]!)),
      ...blobs.flatMap((b) => ['-device', `loader,file=${b.file},addr=${b.addr},force-raw=on`]),
    ];
    const out = await runQemu(args, /Run \/init as init process|Kernel panic|VFS: Unable to mount root/);
    return { out, hasInitrd: initrd !== undefined, format: info.format };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkBoot(out: string, hasInitrd: boolean): void {
  assert.match(out, /BIOS-e820: \[mem 0x0000000000100000-0x000000000fffffff\] usable/, out);
  assert.match(out, /ACPI: RSDP 0x00000000000E0000 000024 \(v02 TSHV/);
  assert.match(out, /ACPI: FACP .*\(v06 TSHV/);
  assert.match(out, /ACPI: INT_SRC_OVR \(bus 0 bus_irq 9 global_irq 9 high level\)/);
  assert.match(out, /smpboot: Allowing 2 CPUs/);
  assert.match(out, /ACPI: PM: \(supports S0 S5\)/);
  assert.match(out, /pnp: PnP ACPI: found [3-9] devices/);
  assert.match(out, /ttyS0 at I\/O 0x3f8 \(irq = 4/);
  assert.match(out, /rtc_cmos 00:0\d: registered as rtc0/);
  assert.doesNotMatch(out, /ACPI BIOS (Error|Warning)|Kernel panic/);
  if (hasInitrd) assert.match(out, /Run \/init as init process/);
}

describe('loadLinux boots a real kernel under QEMU', { skip }, () => {
  it('reaches /init with our boot_params, e820 and ACPI tables', async () => {
    const { out, hasInitrd, format } = await bootUnderQemu(false);
    assert.equal(format, 'bzImage');
    checkBoot(out, hasInitrd);
  });

  it('also boots the vmlinux decompressed on the host (decompressOnHost)', async (t) => {
    const { out, hasInitrd, format } = await bootUnderQemu(true);
    if (format !== 'bzImage-decompressed') {
      t.skip('this kernel\'s payload format is not decoded by payload.ts');
      return;
    }
    checkBoot(out, hasInitrd);
  });
});
