// Unit tests of the real-guest harness against a fake `tshv` entry: a small node script that
// behaves like the guest's console (readiness line, prompt, busybox-style echo of typed input with
// ESC[6n cursor queries, "\r\n" line ends), runs each line with the host's sh and exits 0 on
// `poweroff`. The real thing is exercised by src/vmm/linux-boot.integration.test.ts.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GuestSession, cleanConsoleText, tshvEntryPath } from './guest-session.js';

const FAKE_TSHV = String.raw`
import { execSync } from 'node:child_process';
import { createInterface } from 'node:readline';
const out = (s) => process.stdout.write(s.replace(/\n/g, '\r\n'));
const mode = process.argv[3] ?? '';
if (mode === 'die') { out('booting\n'); process.exit(3); }
if (mode === 'hang') { out('booting\n'); setInterval(() => {}, 1000); }
else {
  out('[    0.000000] Linux version fake\ntshv-guest: ready\n');
  const prompt = () => process.stdout.write('root@tshv:~# \x1b[6n');
  setTimeout(prompt, 20);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    out(line + '\n');
    if (line === 'poweroff') { out('[    1.0] reboot: Power down\n'); process.exit(0); }
    let text = '';
    try { text = execSync(line, { shell: '/bin/sh', encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); }
    catch (e) { text = String(e.stdout ?? ''); }
    out(text);
    prompt();
  });
}
`;

void describe('GuestSession (fake console)', () => {
  let dir: string;
  let entry: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tshv-guest-session-'));
    entry = join(dir, 'fake-tshv.mjs');
    writeFileSync(entry, FAKE_TSHV);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void it('finds the CLI entry beside its compiled output', () => {
    assert.match(tshvEntryPath(), /[/\\]bin[/\\]tshv\.js$/);
  });

  void it('cleans carriage returns and terminal control sequences', () => {
    assert.equal(cleanConsoleText('a\r\nroot# \x1b[6n\x1b[1;32mok\x1b[0m\r\n'), 'a\nroot# ok\n');
  });

  void it('waits for the shell, runs commands with their output and status, and powers off', async () => {
    const vm = await GuestSession.start({ entryPath: entry, bootTimeoutMs: 20_000, commandTimeoutMs: 20_000 });
    try {
      assert.ok(vm.readyMs !== undefined);
      assert.deepEqual(await vm.run('echo one; echo two'), { output: 'one\ntwo\n', status: 0 });
      assert.deepEqual(await vm.run('printf no-newline'), { output: 'no-newline', status: 0 });
      assert.deepEqual(await vm.run('true'), { output: '', status: 0 });
      assert.equal((await vm.run('(exit 5)')).status, 5);
      assert.equal(await vm.check('echo "$((6*7))"'), '42');
      await assert.rejects(vm.check('false'), /failed with status 1/);
      assert.deepEqual(await vm.poweroff(5_000), { code: 0, signal: null });
    } finally {
      vm.kill();
    }
  });

  void it('reports an early exit with the console tail', async () => {
    await assert.rejects(
      GuestSession.start({ entryPath: entry, runArgs: ['die'], bootTimeoutMs: 20_000 }),
      /exited \(\{"code":3,"signal":null\}\) before the readiness line[\s\S]*booting/,
    );
  });

  void it('times out with a clear message, and kill() ends the VM', async () => {
    const vm = await GuestSession.start({ entryPath: entry, runArgs: ['hang'], waitForShell: false });
    try {
      await vm.waitFor('booting', 20_000);
      await assert.rejects(vm.waitForShell(0, 200), /Timed out after 200 ms waiting for the readiness line[\s\S]*booting/);
    } finally {
      vm.kill();
    }
    assert.deepEqual(await vm.waitExit(20_000), { code: null, signal: 'SIGKILL' });
  });
});
