// `tshv run` in the foreground: chooses the engine, builds the machine, connects the console,
// and restarts the machine when the guest reboots (unless --no-reboot).

import { TshvError } from '../common/errors.js';
import { chooseAccel, probeKvm } from './accel.js';
import type { VmConfig } from './config.js';
import { NullConsole, StdioConsole } from './console.js';
import { DEFAULT_VMM_RUN_OPTIONS, VmmController, type VmmRunOptions } from './control/vmm-controller.js';
import type { MachineExit, VmEngine } from './engine.js';
import { HvcSocket } from './hvc-socket.js';

export async function runVm(config: VmConfig, run: VmmRunOptions = DEFAULT_VMM_RUN_OPTIONS): Promise<number> {
  // TSHV_KVM_DEVICE points the KVM engine at another device node (tests of the error paths).
  const kvmDevice = process.env['TSHV_KVM_DEVICE'] ?? '/dev/kvm';
  const probe = probeKvm(kvmDevice);
  const choice = chooseAccel(config.accel, probe);
  process.stderr.write(`tshv: ${choice.reason}\n`);
  if (choice.warning !== undefined) process.stderr.write(`tshv: warning: ${choice.warning}\n`);

  // --hvc: the socket outlives each machine (a guest reboot plugs the new console into it).
  const hvc = config.hvc !== undefined ? await HvcSocket.listen(config.hvc.socketPath) : undefined;
  // --control, --exit-file, --name (control/vmm-controller.ts).
  const vmm = await VmmController.open(config, run, choice.engine).catch((e: unknown) => { hvc?.dispose(); throw e; });

  let machine: VmEngine | undefined;
  const console = run.console === 'none' ? new NullConsole() : new StdioConsole(() => machine?.stop({ kind: 'quit' }));
  const onSignal = (): void => machine?.stop({ kind: 'quit' });
  // Without a terminal (--console none: a daemon's VMM) a hangup is no reason to end the VM.
  const onHangup = run.console === 'none' ? (): void => { process.stderr.write('tshv: SIGHUP ignored (--console none)\n'); } : onSignal;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHangup);
  try {
    for (;;) {
      if (vmm.quitRequested) return vmm.finish({ kind: 'quit' });
      const io = {
        onSerialOutput: (bytes: Uint8Array) => { console.write(bytes); vmm.consoleOutput(bytes); }, onSliceEnd: () => console.flush(),
        onHvcOutput: (bytes: Uint8Array) => hvc?.write(bytes),
      };
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
        vmm.attach(machine);
        const ioc = machine.ioControls;
        hvc?.setInputSink(ioc === undefined ? undefined : (bytes) => ioc.pushHvcInput(bytes));
        exit = await machine.run();
      } finally {
        vmm.detach();
        console.flush();
        if (process.env['TSHV_STATS']) process.stderr.write(`tshv: ${machine.stats()}\n`);
        machine.dispose();
      }
      // A reset asked through the control socket restarts the machine even with --no-reboot.
      if (exit.kind === 'reset' && (vmm.takeResetRequest() || config.reboot)) {
        process.stderr.write('tshv: guest rebooted; restarting the machine\n');
        vmm.noteReset();
        continue;
      }
      if (exit.kind === 'error') throw new TshvError(exit.message);
      return vmm.finish(exit);
    }
  } catch (e) {
    vmm.fail(e);
    throw e;
  } finally {
    await vmm.close();
    hvc?.dispose();
    console.detach();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangup);
  }
}
