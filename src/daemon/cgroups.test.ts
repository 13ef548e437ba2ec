import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CFS_PERIOD_US, VmCgroups, cfsQuotaUs, ownV1Path, v1CpuShares } from './cgroups.js';

test('unit conversions: v1 shares from the weight, CFS quota from the cap', () => {
  assert.equal(v1CpuShares(100), 1024);
  assert.equal(v1CpuShares(50), 512);
  assert.equal(v1CpuShares(10000), 102400);
  assert.equal(v1CpuShares(1), 10);
  assert.equal(cfsQuotaUs(100), CFS_PERIOD_US);
  assert.equal(cfsQuotaUs(50), 50_000);
  assert.equal(cfsQuotaUs(250), 250_000);
});

test('ownV1Path reads the daemon\'s group per controller, joined controllers included', () => {
  const self = '12:cpu,cpuacct:/user.slice\n4:memory:/process_api/abc\n0::/\n';
  assert.equal(ownV1Path(self, 'cpu'), '/user.slice');
  assert.equal(ownV1Path(self, 'memory'), '/process_api/abc');
  assert.equal(ownV1Path(self, 'pids'), '/');
});

test('not root: none, with the reason', () => {
  const cg = VmCgroups.detect({ root: '/nonexistent', privileged: false });
  assert.equal(cg.mode, 'none');
  const placed = cg.apply('web', 1, { cpuWeight: 100 });
  assert.equal(placed.enforced, false);
  assert.match(placed.detail, /^Limits not applied: the daemon does not run as root/);
});

test('no hierarchy at all: none', () => {
  const root = mkdtempSync(join(tmpdir(), 'tshv-cg-'));
  try {
    const cg = VmCgroups.detect({ root, privileged: true, selfCgroup: '' });
    assert.equal(cg.mode, 'none');
    assert.match(cg.summary, /no cgroup v2 with cpu and memory/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('cgroup v2 layout (in a fake root): tshv.slice/<vm> with cpu.weight, cpu.max, memory.max', () => {
  const root = mkdtempSync(join(tmpdir(), 'tshv-cg-'));
  try {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    writeFileSync(join(root, 'cgroup.subtree_control'), 'cpu\n');
    const cg = VmCgroups.detect({ root, privileged: true, selfCgroup: '0::/\n' });
    assert.equal(cg.mode, 'v2');
    const placed = cg.apply('web', 4242, { cpuWeight: 200, cpuCapPercent: 150, memoryLimitMib: 300 });
    assert.equal(placed.enforced, true, placed.detail);
    const dir = join(root, 'tshv.slice', 'web');
    assert.deepEqual(placed.dirs, [dir]);
    assert.equal(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8'), '+memory');
    assert.equal(readFileSync(join(root, 'tshv.slice', 'cgroup.subtree_control'), 'utf8'), '+cpu +memory');
    assert.equal(readFileSync(join(dir, 'cpu.weight'), 'utf8'), '200');
    assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8'), '150000 100000');
    assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), String(300 * 1024 * 1024));
    assert.equal(readFileSync(join(dir, 'cgroup.procs'), 'utf8'), '4242');
    assert.match(placed.detail, /^cgroup v2 .*tshv\.slice\/web: cpu\.weight 200, CPU cap 150%, memory limit 300 MiB$/);
    const open = cg.apply('db', 4243, { cpuWeight: 100 });
    assert.equal(readFileSync(join(root, 'tshv.slice', 'db', 'cpu.max'), 'utf8'), 'max 100000');
    assert.equal(readFileSync(join(root, 'tshv.slice', 'db', 'memory.max'), 'utf8'), 'max');
    assert.equal(open.enforced, true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// The real thing on this host (cgroup v1 hybrid here; v2 hosts take the v2 path): a child process
// is placed, the files are read back from the kernel, and the groups are gone after it ends.
test('on this host: a process is placed and limited, and its groups are removed after it exits', async (t) => {
  const cg = VmCgroups.detect();
  if (cg.mode === 'none') {
    t.skip(cg.summary);
    return;
  }
  const name = `test-${process.pid}`;
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let dirs: string[] = [];
  try {
    const pid = child.pid!;
    const placed = cg.apply(name, pid, { cpuWeight: 50, cpuCapPercent: 25, memoryLimitMib: 64 });
    dirs = placed.dirs;
    assert.equal(placed.enforced, true, placed.detail);
    const own = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    if (cg.mode === 'v1') {
      const [cpu, memory] = placed.dirs;
      assert.ok(cpu !== undefined && memory !== undefined);
      assert.equal(readFileSync(join(cpu, 'cpu.shares'), 'utf8').trim(), '512');
      assert.equal(readFileSync(join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '25000');
      assert.equal(readFileSync(join(cpu, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
      assert.equal(readFileSync(join(memory, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * 1024 * 1024));
      assert.match(own, new RegExp(`:cpu(,[a-z]+)*:.*/tshv\\.slice/${name}$`, 'm'));
      assert.match(own, new RegExp(`:memory:.*/tshv\\.slice/${name}$`, 'm'));
    } else {
      const [dir] = placed.dirs;
      assert.ok(dir !== undefined);
      assert.equal(readFileSync(join(dir, 'cpu.weight'), 'utf8').trim(), '50');
      assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8').trim(), '25000 100000');
      assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8').trim(), String(64 * 1024 * 1024));
      assert.match(own, new RegExp(`^0::/tshv\\.slice/${name}$`, 'm'));
    }
    assert.equal(VmCgroups.oomKilled(placed.dirs), false);
    child.kill('SIGKILL');
    await exited;
    // The exited process leaves its groups at once in v1 and v2; retry briefly all the same.
    for (let i = 0; i < 50 && dirs.length > 0; i++) {
      dirs = VmCgroups.remove(dirs);
      if (dirs.length > 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(dirs, []);
    for (const d of placed.dirs) assert.equal(existsSync(d), false, d);
  } finally {
    child.kill('SIGKILL');
    await exited;
    VmCgroups.remove(dirs);
  }
});

test('a failure to place is reported, not thrown, and leaves nothing behind', () => {
  const root = mkdtempSync(join(tmpdir(), 'tshv-cg-'));
  try {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory\n');
    // A file where the slice directory must go.
    writeFileSync(join(root, 'tshv.slice'), '');
    mkdirSync(join(root, 'x'));
    const cg = VmCgroups.detect({ root, privileged: true, selfCgroup: '0::/\n' });
    const placed = cg.apply('web', 1, { cpuWeight: 100 });
    assert.equal(placed.enforced, false);
    assert.match(placed.detail, /^Limits not applied: cgroup v2: /);
    assert.deepEqual(placed.dirs, []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the slice weighs the sum of its VMs\' weights, so each VM competes with host processes by its own weight', () => {
  const root = mkdtempSync(join(tmpdir(), 'tshv-cg-'));
  try {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory\n');
    writeFileSync(join(root, 'cgroup.subtree_control'), 'cpu memory\n');
    // A real kernel creates cpu.weight in every group; the fake root needs it made by hand.
    mkdirSync(join(root, 'tshv.slice'));
    writeFileSync(join(root, 'tshv.slice', 'cgroup.subtree_control'), 'cpu memory\n');
    writeFileSync(join(root, 'tshv.slice', 'cpu.weight'), '100');
    const cg = VmCgroups.detect({ root, privileged: true, selfCgroup: '0::/\n' });
    assert.equal(cg.apply('a', 1, { cpuWeight: 100 }).enforced, true);
    assert.equal(cg.apply('b', 2, { cpuWeight: 300 }).enforced, true);
    assert.equal(readFileSync(join(root, 'tshv.slice', 'cpu.weight'), 'utf8'), '400');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
