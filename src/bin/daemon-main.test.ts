// The daemon process's wiring with the fake service: it listens where told, logs to stderr,
// answers on both doors, and SIGTERM closes it cleanly (socket removed, exit 0).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TshvClient } from '../client/client.js';

const entry = fileURLToPath(new URL('./testing/fake-daemon-main.js', import.meta.url));

function run(args: string[], home: string) {
  const child = spawn(process.execPath, [entry, ...args], { env: { ...process.env, TSHV_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = async (re: RegExp): Promise<RegExpExecArray> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = re.exec(stderr);
      if (m !== null) return m;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${String(re)} in: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, exited, waitFor, stderr: () => stderr };
}

test('tshv daemon: listens on the socket and an ephemeral HTTP port; SIGTERM closes it', async () => {
  const home = mkdtempSync(join(tmpdir(), 'tshv-daemon-main-'));
  const d = run(['--listen', '127.0.0.1:0'], home);
  try {
    const m = await d.waitFor(/listening on (\S+) and (http:\/\/127\.0\.0\.1:\d+) \(pid \d+\)/);
    assert.equal(m[1], join(home, 'tshvd.sock'));
    const local = TshvClient.local(home);
    await local.createVm({ name: 'one' });
    const { secret } = await local.createToken({ name: 't', role: 'viewer' });
    const remote = new TshvClient({ baseUrl: m[2]!, token: secret });
    assert.deepEqual((await remote.listVms()).map((v) => v.name), ['one']);
    await d.waitFor(/GET \/api\/v1\/vms 200/);
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0, d.stderr());
    assert.match(d.stderr(), /SIGTERM: closing \(VMs keep running\)[\s\S]*fake daemon service closed[\s\S]*stopped/);
    assert.equal(existsSync(join(home, 'tshvd.sock')), false);
  } finally {
    d.child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  }
});

test('tshv daemon: bad arguments and a taken port are one line', async () => {
  const home = mkdtempSync(join(tmpdir(), 'tshv-daemon-main-'));
  try {
    let d = run(['--listen', 'nowhere'], home);
    assert.equal(await d.exited, 2);
    assert.equal(d.stderr(), 'tshv: Invalid listen address "nowhere": expected HOST:PORT, e.g. 127.0.0.1:7480\n');
    d = run(['--no-http', '--allow-origin', 'evil'], home);
    assert.equal(await d.exited, 2);
    // Two daemons on one home: the second is refused.
    const first = run(['--no-http'], home);
    try {
      await first.waitFor(/listening on/);
      d = run(['--no-http'], home);
      assert.equal(await d.exited, 1);
      assert.match(d.stderr(), /tshv: Another tshv daemon is listening on /);
    } finally {
      first.child.kill('SIGINT');
      assert.equal(await first.exited, 0);
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
