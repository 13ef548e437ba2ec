// A real TAP in a network namespace the test creates (issue 4: never traffic from the host's own
// namespace). The TAP is opened here, then moved into the namespace (the fd keeps working), given
// 10.254.77.1/24 there; the "guest" (the driver mock) ARPs and pings it through virtio-net. The
// namespace is deleted afterwards, also on failure; the TAP, created non-persistent, disappears
// when its fd closes. Skipped when not root, or without /dev/net/tun or `ip`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { TapDevice, TUN_F_CSUM } from './tap.js';
import { TapWatcher } from './tap-watcher.js';
import { createTestPlatform } from '../devices/virtio/testing/test-platform.js';
import { VirtioDriverMock } from '../devices/virtio/testing/driver-mock.js';
import { addVirtioNet } from '../devices/virtio/platform.js';
import { NET_RX_QUEUE, NET_TX_QUEUE } from '../devices/virtio/net/device.js';

const IP = '/usr/sbin/ip';
const skip = process.getuid?.() !== 0 ? 'needs root' : !existsSync('/dev/net/tun') ? 'no /dev/net/tun' : !existsSync(IP) ? 'no ip(8)' : false;

function ip(...args: string[]): string {
  return execFileSync(IP, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const HOST_IP = [10, 254, 77, 1];
const GUEST_IP = [10, 254, 77, 2];
const GUEST_MAC = [0x52, 0x54, 0x00, 0x77, 0x00, 0x02];

function csum(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** vnet header (12 zero bytes) + an Ethernet frame. */
function withHdr(eth: number[]): Uint8Array {
  return Uint8Array.from([...new Array<number>(12).fill(0), ...eth]);
}

function arpRequest(): Uint8Array {
  return withHdr([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...GUEST_MAC, 0x08, 0x06,
    0, 1, 0x08, 0, 6, 4, 0, 1, ...GUEST_MAC, ...GUEST_IP, 0, 0, 0, 0, 0, 0, ...HOST_IP]);
}

function icmpEcho(dstMac: number[], payload: Uint8Array): Uint8Array {
  const ipLen = 20 + 8 + payload.length;
  const p = new Uint8Array(ipLen);
  p.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, ...GUEST_IP, ...HOST_IP]);
  const c = csum(p, 0, 20);
  p[10] = c >> 8; p[11] = c & 0xff;
  p.set([8, 0, 0, 0, 0x77, 0x01, 0, 1], 20);
  p.set(payload, 28);
  const ic = csum(p, 20, ipLen);
  p[22] = ic >> 8; p[23] = ic & 0xff;
  return withHdr([...dstMac, ...GUEST_MAC, 0x08, 0x00, ...p]);
}

test('tap: a real TAP moved into a namespace carries ARP and ICMP both ways through virtio-net', { skip }, async () => {
  const ns = `tshvtest-${process.pid}`;
  const tap = `tshvt${process.pid % 100000}`;
  let net: ReturnType<typeof addVirtioNet> | undefined;
  // Belt and braces: even if the test is cancelled before `finally`, the namespace goes.
  const removeNs = (): void => { try { ip('netns', 'del', ns); } catch { /* gone already */ } };
  process.once('exit', removeNs);
  try {
    assert.equal(TapDevice.exists(tap), false);
    const t = createTestPlatform(8 << 20);
    net = addVirtioNet(t.pci, { tap, mac: '52:54:00:77:00:02' }, {});
    const backend = net.device.backend as TapDevice;
    assert.equal(backend.created, true);
    assert.ok((backend.supportedOffloads & TUN_F_CSUM) !== 0, 'the TAP takes checksum offload');
    ip('netns', 'add', ns);
    ip('link', 'set', tap, 'netns', ns);
    assert.equal(TapDevice.exists(tap), false, 'moved out of our namespace');
    ip('netns', 'exec', ns, IP, 'addr', 'add', '10.254.77.1/24', 'dev', tap);
    ip('netns', 'exec', ns, IP, 'link', 'set', tap, 'up');
    const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, net.slot);
    drv.init();
    for (let i = 0; i < 16; i++) drv.post(NET_RX_QUEUE, [{ len: 2048, write: true }]);
    drv.notify(NET_RX_QUEUE);

    /** Transmits `frame`, then polls until a frame of `etherType` arrives; returns its Ethernet bytes. */
    const exchange = async (frame: Uint8Array, match: (eth: Uint8Array) => boolean): Promise<Uint8Array> => {
      drv.post(NET_TX_QUEUE, [{ len: frame.length, write: false, data: frame }]);
      drv.notify(NET_TX_QUEUE);
      drv.takeUsed(NET_TX_QUEUE);
      for (let tries = 0; tries < 500; tries++) {
        net!.device.poll();
        // Read every frame before reposting: a reposted buffer may reuse a head id of this batch.
        const frames = drv.takeUsed(NET_RX_QUEUE).map((u) => t.memory.read(drv.buffersOf(NET_RX_QUEUE, u.id)[0]!.addr + 12, u.len - 12));
        for (const eth of frames) {
          drv.post(NET_RX_QUEUE, [{ len: 2048, write: true }]);
          if (match(eth)) return eth;
        }
        await sleep(10);
      }
      throw new Error('no answer from the namespace');
    };
    // The watcher wakes us when the namespace's answer is readable (the idle-machine path).
    let wakes = 0;
    let woke: () => void = () => {};
    const readable = new Promise<void>((resolve) => { woke = resolve; });
    const watcher = new TapWatcher(backend.fd, () => { wakes++; woke(); });
    drv.post(NET_TX_QUEUE, [{ len: 42 + 12, write: false, data: arpRequest() }]);
    drv.notify(NET_TX_QUEUE);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => { timer = setTimeout(() => resolve('timeout'), 5000); });
    assert.notEqual(await Promise.race([readable.then(() => 'woke'), timeout]), 'timeout');
    clearTimeout(timer);
    assert.equal(net.device.rxReady, true);
    assert.equal(wakes, 1);
    await watcher.dispose();
    const arp = await exchange(arpRequest(), (e) => e[12] === 0x08 && e[13] === 0x06 && e[21] === 2);
    const hostMac = [...arp.subarray(22, 28)];
    assert.deepEqual([...arp.subarray(0, 6)], GUEST_MAC);
    assert.deepEqual([...arp.subarray(28, 32)], HOST_IP);
    const payload = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
    const reply = await exchange(icmpEcho(hostMac, payload), (e) => e[12] === 0x08 && e[13] === 0x00 && e[23] === 1 && e[34] === 0);
    assert.deepEqual(reply.subarray(42, 42 + payload.length), payload, 'echo reply carries our bytes');
    const rx = Number(ip('netns', 'exec', ns, 'cat', `/sys/class/net/${tap}/statistics/rx_packets`).trim());
    assert.ok(rx >= 2, `the namespace saw ${rx} frames from the guest`);
    assert.ok(net.device.metrics.txFrames >= 2 && net.device.metrics.rxFrames >= 2);
    net.device.dispose();
    net = undefined;
    // Non-persistent: closing the fd removed the interface (now inside the namespace).
    assert.doesNotMatch(ip('-n', ns, '-o', 'link', 'show'), new RegExp(`\\b${tap}\\b`));
  } finally {
    net?.device.dispose();
    removeNs();
    process.removeListener('exit', removeNs);
  }
  assert.equal(existsSync(`/run/netns/${ns}`), false);
});

test('tap: an existing TAP is attached, not removed at close', { skip }, () => {
  const tap = `tshvp${process.pid % 100000}`;
  ip('tuntap', 'add', 'dev', tap, 'mode', 'tap', 'vnet_hdr');
  try {
    const dev = TapDevice.open(tap);
    assert.equal(dev.created, false);
    dev.close();
    assert.equal(TapDevice.exists(tap), true);
  } finally {
    ip('tuntap', 'del', 'dev', tap, 'mode', 'tap');
  }
  assert.equal(TapDevice.exists(tap), false);
  assert.throws(() => TapDevice.open('bad name'), /Cannot use TAP name/);
});
