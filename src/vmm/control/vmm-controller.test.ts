import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TshvError } from '../../common/errors.js';
import type { MachineExit, VmEngine } from '../engine.js';
import { VmmController, parseVmmRunOptions } from './vmm-controller.js';
import type { VmmExitRecord } from './protocol.js';

const config = { kernelPath: '/k', cmdline: '', cpuCount: 2, memSizeMib: 128, accel: 'soft' as const, reboot: false };

/** An engine that records what the controller asks of it. */
function fakeEngine(log: string[]): VmEngine {
  return {
    loadKernel: () => undefined,
    run: () => Promise.resolve<MachineExit>({ kind: 'quit' }),
    enqueueInput: (b) => { log.push(`input ${Buffer.from(b).toString()}`); return 0; },
    stop: (e) => { log.push(`stop ${e.kind}`); },
    pause: () => { log.push('pause'); return Promise.resolve(); },
    resume: () => { log.push('resume'); },
    pressPowerButton: () => { log.push('power-button'); },
    stats: () => '',
    dispose: () => undefined,
  };
}

test('parseVmmRunOptions: defaults, and one clear line per bad value', () => {
  assert.deepEqual(parseVmmRunOptions({}), { name: 'vm', console: 'stdio' });
  assert.deepEqual(parseVmmRunOptions({ name: 'web-1', control: '/run/a.sock', 'exit-file': '/run/a.exit', console: 'none' }),
    { name: 'web-1', console: 'none', controlPath: '/run/a.sock', exitFile: '/run/a.exit' });
  assert.throws(() => parseVmmRunOptions({ name: '-x' }), /^TshvError: Invalid --name "-x"/);
  assert.throws(() => parseVmmRunOptions({ name: 'a b' }), /Invalid --name/);
  assert.throws(() => parseVmmRunOptions({ console: 'tty' }), { message: 'Invalid --console "tty": must be stdio or none' });
  assert.throws(() => parseVmmRunOptions({ control: `/tmp/${'x'.repeat(120)}` }), /a Unix socket path is at most 107 bytes/);
  assert.throws(() => parseVmmRunOptions({ 'exit-file': '' }), /Invalid --exit-file: empty path/);
});

test('controller: status, state events, pause held over a reset, quit; exit record written once, atomically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-vmmctl-'));
  const controlPath = join(dir, 'c.sock');
  const exitFile = join(dir, 'vm.exit');
  const vmm = await VmmController.open(config, { name: 't', console: 'none', controlPath, exitFile }, 'soft');
  const events: string[] = [];
  const watcher = createConnection(controlPath);
  try {
    watcher.on('data', (d: Buffer) => events.push(...d.toString().split('\n').filter((l) => l !== '')));
    watcher.write('{"id":1,"action":"watch"}\n');
    const until = async (n: number): Promise<void> => {
      for (let i = 0; i < 200 && events.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(events.length >= n, `${n} lines, got ${JSON.stringify(events)}`);
    };
    await until(1);
    const log: string[] = [];
    vmm.attach(fakeEngine(log));
    const st = vmm.status();
    assert.deepEqual({ ...st, uptimeMs: 0 }, { name: 't', pid: process.pid, state: 'running', engine: 'soft', cpuCount: 2, memSizeMib: 128, uptimeMs: 0, resetCount: 0 });
    await vmm.pause();
    await vmm.pause();
    assert.equal(vmm.status().state, 'paused');
    vmm.consoleInput(Buffer.from('x'));
    vmm.powerButton();
    vmm.reset();
    assert.equal(vmm.takeResetRequest(), true);
    assert.equal(vmm.takeResetRequest(), false);
    vmm.detach();
    assert.throws(() => vmm.powerButton(), TshvError);
    vmm.noteReset();
    assert.equal(vmm.status().resetCount, 1);
    assert.equal(vmm.status().state, 'running', 'a reset machine runs');
    // A pause while no machine runs holds the next one.
    await vmm.pause();
    const log2: string[] = [];
    vmm.attach(fakeEngine(log2));
    assert.deepEqual(log2, ['pause']);
    vmm.resume();
    vmm.detach();
    vmm.quit();
    assert.equal(vmm.quitRequested, true);
    // A quit while the machine was being built stops it as soon as it is attached.
    const log3: string[] = [];
    vmm.attach(fakeEngine(log3));
    vmm.detach();
    // So does a reset.
    vmm.quitRequested = false;
    vmm.reset();
    const log4: string[] = [];
    vmm.attach(fakeEngine(log4));
    assert.deepEqual(log4, ['stop reset']);
    assert.equal(vmm.takeResetRequest(), true);
    vmm.quitRequested = true;
    assert.deepEqual(log, ['pause', 'pause', 'input x', 'power-button', 'stop reset']);
    assert.deepEqual(log2, ['pause', 'resume']);
    assert.deepEqual(log3, ['stop quit']);
    assert.throws(() => vmm.balloon(1), /no run-time I\/O controls/);
    assert.equal(vmm.finish({ kind: 'quit' }), 0);
    assert.equal(vmm.finish({ kind: 'poweroff' }), 0, 'a second finish writes nothing');
    const record = JSON.parse(readFileSync(exitFile, 'utf8')) as VmmExitRecord;
    assert.equal(record.reason, 'stopped');
    assert.equal(record.exitCode, 0);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), [], 'no temp file left');
    await until(7);
    assert.deepEqual(events.map((l) => JSON.parse(l) as unknown).slice(0, 6), [
      { id: 1, ok: true },
      { event: 'state', state: 'paused' },
      { event: 'state', state: 'running' },
      { event: 'reset' },
      { event: 'state', state: 'paused' },
      { event: 'state', state: 'running' },
    ]);
    assert.deepEqual(JSON.parse(events[6]!), { event: 'exiting', exit: record });
    await vmm.close();
    assert.equal(existsSync(controlPath), false);
  } finally {
    watcher.destroy();
    await vmm.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
