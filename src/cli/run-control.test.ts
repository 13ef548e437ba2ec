// `tshv run`'s VMM flags (--name, --control, --exit-file, --console) as a user and a supervisor
// see them, with tiny kernels: no Linux boot. The real guest is in
// vmm/control/control.integration.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseRunCommand } from './run.js';
import { ECHO_KERNEL, POWEROFF_KERNEL, RESET_KERNEL, TRIPLE_FAULT_KERNEL, tinyKernel } from '../vmm/testing/tiny-kernels.js';
import type { VmmExitRecord } from '../vmm/control/protocol.js';

const TSHV = fileURLToPath(new URL('../bin/tshv.js', import.meta.url));

function withDir(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tshv-run-control-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function tshv(dir: string, args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TSHV, ...args], {
    input, encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSHV_HOME: join(dir, 'home') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const readRecord = (path: string): VmmExitRecord => JSON.parse(readFileSync(path, 'utf8')) as VmmExitRecord;

test('parseRunCommand: VMM options beside the machine config', withDir(async (dir) => {
  const kernel = join(dir, 'k.bin');
  writeFileSync(kernel, tinyKernel(POWEROFF_KERNEL));
  const a = await parseRunCommand(['--kernel', kernel]);
  assert.deepEqual(a.run, { name: 'vm', console: 'stdio' });
  const b = await parseRunCommand(['--kernel', kernel, '--name', 'db', '--control', join(dir, 's'), '--exit-file', join(dir, 'e'), '--console', 'none']);
  assert.deepEqual(b.run, { name: 'db', console: 'none', controlPath: join(dir, 's'), exitFile: join(dir, 'e') });
  assert.equal(b.config.kernelPath, kernel);
  await assert.rejects(parseRunCommand(['--kernel', kernel, '--console', 'serial']), /Invalid --console "serial"/);
}));

test('exit records: poweroff, reset with --no-reboot, error; --console none prints nothing on stdout', withDir((dir) => {
  const k = (name: string, code: number[]): string => {
    const p = join(dir, name);
    writeFileSync(p, tinyKernel(code));
    return p;
  };
  const exitFile = join(dir, 'vm.exit');
  let r = tshv(dir, ['run', '--kernel', k('p.bin', POWEROFF_KERNEL), '--accel', 'soft', '--exit-file', exitFile, '--console', 'none']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '', 'the console is not on stdout');
  assert.equal(readRecord(exitFile).reason, 'poweroff');
  assert.equal(readRecord(exitFile).exitCode, 0);

  r = tshv(dir, ['run', '--kernel', k('r.bin', RESET_KERNEL), '--accel', 'soft', '--no-reboot', '--exit-file', exitFile]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'rebooting\n');
  assert.equal(readRecord(exitFile).reason, 'reset');

  r = tshv(dir, ['run', '--kernel', k('t.bin', TRIPLE_FAULT_KERNEL), '--accel', 'soft', '--exit-file', exitFile]);
  assert.equal(r.status, 1);
  const rec = readRecord(exitFile);
  assert.equal(rec.reason, 'error');
  assert.equal(rec.exitCode, 1);
  assert.match(rec.message ?? '', /Triple fault/);
  assert.equal(existsSync(`${exitFile}.tmp-${process.pid}`), false);
}));

test('a VMM that cannot start still leaves an error record (missing kernel, bad flag value, socket in the way)', withDir((dir) => {
  const exitFile = join(dir, 'vm.exit');
  let r = tshv(dir, ['run', '--kernel', join(dir, 'nope'), '--exit-file', exitFile]);
  assert.equal(r.status, 1);
  assert.match(readRecord(exitFile).message ?? '', /Cannot read kernel ".*nope": no such file/);
  r = tshv(dir, ['run', '--kernel', join(dir, 'nope'), '--name=-bad', `--exit-file=${exitFile}`]);
  assert.equal(r.status, 2);
  assert.equal(readRecord(exitFile).exitCode, 2);
  assert.match(readRecord(exitFile).message ?? '', /Invalid --name/);
  const kernel = join(dir, 'e.bin');
  writeFileSync(kernel, tinyKernel(ECHO_KERNEL));
  const notSocket = join(dir, 'file');
  writeFileSync(notSocket, 'x');
  r = tshv(dir, ['run', '--kernel', kernel, '--accel', 'soft', '--control', notSocket, '--exit-file', exitFile]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Cannot serve the control socket ".*file": the path exists and is not a socket/);
  assert.equal(readRecord(exitFile).reason, 'error');
  assert.equal(readFileSync(notSocket, 'utf8'), 'x');
}));

test('a detached VMM outlives its parent: closed stdout/stderr pipes (EPIPE) and SIGHUP do not end it', withDir(async (dir) => {
  const kernel = join(dir, 'e.bin');
  writeFileSync(kernel, tinyKernel(ECHO_KERNEL));
  const sock = join(dir, 'c.sock');
  const exitFile = join(dir, 'vm.exit');
  // A parent that starts the VMM the way a supervisor does (own session, pipes), then dies.
  const launcher = `
    const { spawn } = require('node:child_process');
    const c = spawn(process.execPath, ${JSON.stringify([TSHV, 'run', '--kernel', kernel, '--accel', 'soft', '--control', sock, '--exit-file', exitFile, '--console', 'none'])},
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    console.log(c.pid);
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['-e', launcher], { encoding: 'utf8', timeout: 30_000 });
  const pid = Number(r.stdout.trim());
  assert.ok(pid > 0, r.stderr);
  const alive = (): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };
  const request = async (line: string): Promise<string> => {
    for (let i = 0; ; i++) {
      try {
        return await new Promise<string>((resolve, reject) => {
          const s = createConnection(sock);
          let data = '';
          s.on('data', (d: Buffer) => { data += d.toString(); if (data.includes('\n')) { s.destroy(); resolve(data); } });
          s.on('error', reject);
          s.write(`${line}\n`);
        });
      } catch (e) {
        if (i > 300 || !alive()) throw e;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  };
  try {
    assert.match(await request('{"id":1,"action":"status"}'), /"ok":true/);
    // Stderr is a pipe nobody reads any more: a reset makes the VMM write to it.
    assert.match(await request('{"id":2,"action":"reset"}'), /"ok":true/);
    process.kill(pid, 'SIGHUP');
    for (let i = 0; i < 300 && !(await request('{"id":3,"action":"status"}')).includes('"resetCount":1'); i++) {
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.match(await request('{"id":4,"action":"status"}'), /"resetCount":1/);
    assert.ok(alive());
    assert.match(await request('{"id":5,"action":"quit"}'), /"ok":true/);
    for (let i = 0; i < 300 && alive(); i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(alive(), false);
    assert.equal(readRecord(exitFile).reason, 'stopped');
    assert.equal(existsSync(sock), false);
  } finally {
    if (alive()) process.kill(pid, 'SIGKILL');
  }
}));
