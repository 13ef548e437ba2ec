// `tshv run` in the foreground: chooses the engine, builds the machine, connects the console,
// and restarts the machine when the guest reboots (unless --no-reboot).

import { TshvError } from '../common/errors.js';
import { chooseAccel } from './accel.js';
import type { VmConfig } from './config.js';
import { StdioConsole } from './console.js';
import { Machine, type MachineExit } from './machine.js';

export async function runVm(config: VmConfig): Promise<number> {
  const choice = chooseAccel(config.accel);
  if (choice.engine === 'kvm') {
    throw new TshvError(`${choice.reason}; the KVM engine cannot boot Linux guests yet (use --accel soft)`);
  }
  process.stderr.write(`tshv: ${choice.reason}\n`);
  if (choice.warning !== undefined) process.stderr.write(`tshv: warning: ${choice.warning}\n`);

  let machine: Machine | undefined;
  const console = new StdioConsole(() => machine?.stop({ kind: 'quit' }));
  const onSignal = (): void => machine?.stop({ kind: 'quit' });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    for (;;) {
      machine = new Machine(config, {
        onSerialOutput: (bytes) => console.write(bytes),
        onSliceEnd: () => console.flush(),
      });
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
