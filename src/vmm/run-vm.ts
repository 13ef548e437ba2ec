// `tshv run` in the foreground: chooses the engine, builds the machine, connects the console,
// and restarts the machine when the guest reboots (unless --no-reboot).

import { TshvError } from '../common/errors.js';
import { chooseAccel, probeKvm } from './accel.js';
import type { VmConfig } from './config.js';
import { StdioConsole } from './console.js';
import type { MachineExit, VmEngine } from './engine.js';

export async function runVm(config: VmConfig): Promise<number> {
  // TSHV_KVM_DEVICE points the KVM engine at another device node (tests of the error paths).
  const kvmDevice = process.env['TSHV_KVM_DEVICE'] ?? '/dev/kvm';
  const probe = probeKvm(kvmDevice);
  const choice = chooseAccel(config.accel, probe);
  process.stderr.write(`tshv: ${choice.reason}\n`);
  if (choice.warning !== undefined) process.stderr.write(`tshv: warning: ${choice.warning}\n`);

  let machine: VmEngine | undefined;
  const console = new StdioConsole(() => machine?.stop({ kind: 'quit' }));
  const onSignal = (): void => machine?.stop({ kind: 'quit' });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    for (;;) {
      const io = { onSerialOutput: (bytes: Uint8Array) => console.write(bytes), onSliceEnd: () => console.flush() };
      // Each engine is loaded only when used: a KVM run does not load the soft CPU, and back.
      if (choice.engine === 'kvm') {
        const { KvmMachine } = await import('./kvm-engine.js');
        // On a software KVM the kernel's own decompressor alone runs for minutes (kvm-engine.ts).
        machine = new KvmMachine(config, io, { devPath: kvmDevice, decompressOnHost: !probe.hardware });
      } else {
        const { Machine } = await import('./machine.js');
        machine = new Machine(config, io);
      }
      let exit: MachineExit;
      try {
        machine.loadKernel();
        console.attach(machine);
        exit = await machine.run();
      } finally {
        console.flush();
        if (process.env['TSHV_STATS']) process.stderr.write(`tshv: ${machine.stats()}\n`);
        machine.dispose();
      }
      if (exit.kind === 'reset' && config.reboot) {
        process.stderr.write('tshv: guest rebooted; restarting the machine\n');
        continue;
      }
      switch (exit.kind) {
        case 'poweroff': return 0;
        case 'reset': return 0;
        case 'quit': return 130;
        case 'error': throw new TshvError(exit.message);
      }
    }
  } finally {
    console.detach();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}
