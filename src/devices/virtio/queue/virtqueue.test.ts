import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { ChainError, DescriptorChain } from './descriptor-chain.js';
import { needEvent, POP_EMPTY, POP_OK, Virtqueue, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './virtqueue.js';

const RAM = 1 << 20;
const DESC = 0x1000;
const AVAIL = 0x2000;
const USED = 0x3000;

function setup(size = 8) {
  const mem = new GuestMemory(new Uint8Array(RAM), [{ gpa: 0, sizeBytes: RAM, offset: 0 }]);
  const q = new Virtqueue(size);
  q.descAddr = DESC;
  q.availAddr = AVAIL;
  q.usedAddr = USED;
  q.ready = true;
  assert.equal(q.activate(mem), 0);
  let availIdx = 0;
  const desc = (table: number, i: number, addr: number, len: number, flags: number, next = 0) => {
    const at = table + 16 * i;
    mem.writeU32(at, addr % 0x1_0000_0000);
    mem.writeU32(at + 4, Math.floor(addr / 0x1_0000_0000));
    mem.writeU32(at + 8, len);
    mem.writeU16(at + 12, flags);
    mem.writeU16(at + 14, next);
  };
  const push = (head: number) => {
    mem.writeU16(AVAIL + 4 + 2 * (availIdx % size), head);
    availIdx = (availIdx + 1) & 0xffff;
    mem.writeU16(AVAIL + 2, availIdx);
  };
  return { mem, q, desc, push, chain: new DescriptorChain(size) };
}

test('virtqueue: direct chain, readable then writable, used ring and interrupts', () => {
  const { mem, q, desc, push, chain } = setup();
  assert.equal(q.pop(chain), POP_EMPTY);
  desc(DESC, 0, 0x8000, 16, VIRTQ_DESC_F_NEXT, 3);
  desc(DESC, 3, 0x9000, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 5);
  desc(DESC, 5, 0xa000, 1, VIRTQ_DESC_F_WRITE);
  push(0);
  assert.equal(q.pop(chain), POP_OK);
  assert.equal(chain.head, 0);
  assert.equal(chain.count, 3);
  assert.equal(chain.readableCount, 1);
  assert.equal(chain.readableBytes, 16);
  assert.equal(chain.writableBytes, 513);
  mem.write(0x8000, Uint8Array.from([1, 2, 3, 4]));
  const hdr = new Uint8Array(4);
  assert.ok(chain.readInto(mem, 0, hdr));
  assert.deepEqual([...hdr], [1, 2, 3, 4]);
  assert.ok(chain.writeU8(mem, 512, 0x77));
  assert.equal(mem.readU8(0xa000), 0x77);
  assert.equal(chain.writeU8(mem, 513, 0), false);
  q.addUsed(chain.head, 513);
  assert.equal(mem.readU16(USED + 2), 1);
  assert.equal(mem.readU32(USED + 4), 0);
  assert.equal(mem.readU32(USED + 8), 513);
  assert.equal(q.needsInterrupt(), true);
  assert.equal(q.needsInterrupt(), false);
});

test('virtqueue: indirect table', () => {
  const { mem, q, desc, push, chain } = setup();
  const table = 0x4000;
  desc(table, 0, 0x8000, 16, VIRTQ_DESC_F_NEXT, 1);
  desc(table, 1, 0x9000, 100, VIRTQ_DESC_F_WRITE);
  desc(DESC, 2, table, 32, VIRTQ_DESC_F_INDIRECT);
  push(2);
  assert.equal(q.pop(chain), POP_OK);
  assert.equal(chain.head, 2);
  assert.equal(chain.count, 2);
  assert.equal(chain.writableBytes, 100);
  void mem;
});

test('virtqueue: malformed chains are refused with the right reason', () => {
  const cases: [string, (s: ReturnType<typeof setup>) => void, ChainError][] = [
    ['head out of range', (s) => s.push(9), ChainError.HeadOutOfRange],
    ['next out of range', (s) => { s.desc(DESC, 0, 0x8000, 4, VIRTQ_DESC_F_NEXT, 8); s.push(0); }, ChainError.NextOutOfRange],
    ['loop', (s) => { s.desc(DESC, 0, 0x8000, 4, VIRTQ_DESC_F_NEXT, 1); s.desc(DESC, 1, 0x8000, 4, VIRTQ_DESC_F_NEXT, 0); s.push(0); }, ChainError.TooLong],
    ['outside RAM', (s) => { s.desc(DESC, 0, RAM - 2, 4, 0); s.push(0); }, ChainError.BufferOutsideRam],
    ['above 2^53', (s) => { s.desc(DESC, 0, 2 ** 60, 4, 0); s.push(0); }, ChainError.BufferOutsideRam],
    ['zero length', (s) => { s.desc(DESC, 0, 0x8000, 0, 0); s.push(0); }, ChainError.ZeroLength],
    ['readable after writable', (s) => { s.desc(DESC, 0, 0x8000, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1); s.desc(DESC, 1, 0x8000, 4, 0); s.push(0); }, ChainError.ReadableAfterWritable],
    ['nested indirect', (s) => { s.desc(0x4000, 0, 0x4000, 16, VIRTQ_DESC_F_INDIRECT); s.desc(DESC, 0, 0x4000, 16, VIRTQ_DESC_F_INDIRECT); s.push(0); }, ChainError.NestedIndirect],
    ['indirect with next', (s) => { s.desc(DESC, 0, 0x4000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1); s.push(0); }, ChainError.BadIndirect],
    ['indirect odd length', (s) => { s.desc(DESC, 0, 0x4000, 17, VIRTQ_DESC_F_INDIRECT); s.push(0); }, ChainError.BadIndirect],
    ['indirect too long', (s) => { s.desc(DESC, 0, 0x4000, 16 * 9, VIRTQ_DESC_F_INDIRECT); s.push(0); }, ChainError.TooLong],
    ['indirect table outside RAM', (s) => { s.desc(DESC, 0, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT); s.push(0); }, ChainError.BufferOutsideRam],
    ['indirect loop', (s) => { s.desc(0x4000, 0, 0x8000, 4, VIRTQ_DESC_F_NEXT, 1); s.desc(0x4000, 1, 0x8000, 4, VIRTQ_DESC_F_NEXT, 0); s.desc(DESC, 0, 0x4000, 32, VIRTQ_DESC_F_INDIRECT); s.push(0); }, ChainError.TooLong],
    ['avail index jump', (s) => { s.mem.writeU16(AVAIL + 2, 100); }, ChainError.AvailIndexOutOfRange],
  ];
  for (const [what, build, want] of cases) {
    const s = setup();
    build(s);
    assert.equal(s.q.pop(s.chain), want, what);
  }
});

test('virtqueue: rings outside RAM or misaligned are refused at activation', () => {
  const mem = new GuestMemory(new Uint8Array(RAM), [{ gpa: 0, sizeBytes: RAM, offset: 0 }]);
  const q = new Virtqueue(8);
  q.descAddr = RAM - 64;
  assert.equal(q.activate(mem), ChainError.RingOutsideRam);
  q.descAddr = 0x1008;
  assert.equal(q.activate(mem), ChainError.RingOutsideRam);
  q.descAddr = 0x1000;
  q.size = 6;
  assert.equal(q.activate(mem), ChainError.RingOutsideRam);
  q.size = 8;
  q.usedAddr = 0x3000;
  q.availAddr = 0x2000;
  assert.equal(q.activate(mem), 0);
});

test('virtqueue: event index publishes avail_event and honours used_event', () => {
  const { mem, q, desc, push, chain } = setup();
  q.eventIdx = true;
  assert.equal(needEvent(0, 1, 0), true);
  assert.equal(needEvent(5, 3, 0), false);
  for (let i = 0; i < 3; i++) {
    desc(DESC, i, 0x8000, 4, VIRTQ_DESC_F_WRITE);
    push(i);
  }
  // used_event = 2: the driver wants an interrupt once the third buffer is used.
  mem.writeU16(AVAIL + 4 + 2 * 8, 2);
  for (let i = 0; i < 2; i++) {
    assert.equal(q.pop(chain), POP_OK);
    q.addUsed(chain.head, 0);
  }
  assert.equal(q.needsInterrupt(), false);
  assert.equal(q.pop(chain), POP_OK);
  q.addUsed(chain.head, 0);
  assert.equal(q.needsInterrupt(), true);
  assert.equal(q.enableNotification(), false);
  assert.equal(mem.readU16(USED + 4 + 8 * 8), 3);
  // undoPop gives the chain back.
  desc(DESC, 3, 0x8000, 4, 0);
  push(3);
  assert.equal(q.pop(chain), POP_OK);
  q.undoPop();
  assert.equal(q.pop(chain), POP_OK);
  assert.equal(chain.head, 3);
  const saved = q.save();
  const q2 = new Virtqueue(8);
  q2.restore(saved);
  assert.equal(q2.lastAvailIdx, 4);
  assert.equal(q2.usedIdx, 3);
});
