// A real guest on a real TAP (issue 4, virtio-net): tshv runs inside a network namespace this test
// creates, so the TAP it creates is there too; the namespace side gets 10.254.78.1/24 and the guest
// 10.254.78.2/24. The guest pings the namespace and sends a TCP stream whose bytes are checked on
// both ends. No traffic ever leaves the namespace, which is deleted afterwards.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_BOOT_TIMEOUT_MS, GuestSession } from './testing/guest-session.js';

const NS = `tshvnet${process.pid}`;
const TAP = 'tshvtap0';
const HOST_IP = '10.254.78.1';
const GUEST_IP = '10.254.78.2';

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TAP)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  if (spawnSync('ip', ['-V']).status !== 0) return 'no ip command (iproute2)';
  return false;
}

const ipns = (...args: string[]): void => {
  const r = spawnSync('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns exec ${NS} ${args.join(' ')}: ${r.stderr}`);
};

void describe('virtio-net on a TAP in a network namespace', { skip: skipReason(), timeout: 20 * 60 * 1000 }, () => {
  let vm: GuestSession | undefined;
  let server: ChildProcess | undefined;

  before(async () => {
    spawnSync('ip', ['netns', 'del', NS]);
    assert.equal(spawnSync('ip', ['netns', 'add', NS]).status, 0, 'ip netns add');
    ipns('ip', 'link', 'set', 'lo', 'up');
    vm = await GuestSession.start({
      runArgs: ['--net', `tap=${TAP},mac=52:54:00:12:34:56`],
      launcher: ['ip', 'netns', 'exec', NS],
      bootTimeoutMs: DEFAULT_BOOT_TIMEOUT_MS,
    });
    // tshv created the TAP in the namespace when it started.
    ipns('ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', TAP);
    ipns('ip', 'link', 'set', TAP, 'up');
  });

  after(() => {
    vm?.kill();
    server?.kill();
    spawnSync('ip', ['netns', 'del', NS]);
  });

  void it('the guest has eth0 with our MAC, gets an address and pings the host side', async () => {
    assert.ok(vm);
    assert.equal(await vm.check('cat /sys/class/net/eth0/address'), '52:54:00:12:34:56');
    await vm.check(`ip addr add ${GUEST_IP}/24 dev eth0 && ip link set eth0 up`);
    const ping = await vm.run(`ping -c 3 -W 5 ${HOST_IP}`);
    assert.equal(ping.status, 0, ping.output);
    assert.match(ping.output, /3 packets transmitted, 3 packets received/);
  });

  void it('moves a TCP stream whose bytes are checked at both ends', async () => {
    assert.ok(vm);
    // A one-shot receiver in the namespace: prints the sha256 and length of what it got.
    const script = `const c=require('crypto').createHash('sha256');let n=0;const s=require('net').createServer((k)=>{` +
      `k.on('data',(d)=>{c.update(d);n+=d.length;});k.on('end',()=>{console.log(c.digest('hex')+' '+n);s.close();});});` +
      `s.listen(5556,'${HOST_IP}',()=>console.log('listening'));`;
    server = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const lines = new Promise<string>((resolve) => {
      server!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^[0-9a-f]{64} \d+$/m.test(out)) resolve(out);
      });
    });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => { if (out.includes('listening')) { clearInterval(poll); resolve(); } }, 50);
    });
    const sent = await vm.check('dd if=/dev/urandom of=/tmp/x bs=64k count=16 2>/dev/null; sha256sum /tmp/x');
    await vm.check(`nc ${HOST_IP} 5556 < /tmp/x`);
    const got = (await lines).match(/^([0-9a-f]{64}) (\d+)$/m)!;
    assert.equal(got[2], String(16 * 65536));
    assert.equal(got[1], sent.split(/\s+/)[0]);
  });
});
