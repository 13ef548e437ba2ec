// Linux TAP devices (Documentation/networking/tuntap.rst): opens /dev/net/tun and attaches to (or
// creates) the interface NAME with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, sets the vnet header size
// to 12 bytes (struct virtio_net_hdr_v1, virtio 1.2 §5.1.6) so that frames cross the fd in the
// very layout the guest uses, and switches offloads (TUNSETOFFLOAD). The fd is non-blocking: the
// device reads it at the machine loop's slice boundaries and never waits.
//
// A TAP that did not exist is created non-persistent: the kernel removes it when the last fd
// closes, so "removed at exit when we created it" holds even if the VMM is killed.

import { existsSync } from 'node:fs';
import { TshvError } from '../common/errors.js';
import { close, ioctlArg, ioctlBuf, openPath, O_CLOEXEC, O_NONBLOCK, O_RDWR, readRaw, SysError, writeRaw } from '../sys/libc.js';

/** ioctl numbers (linux/if_tun.h): _IOW('T', n, int) and _IOR('T', n, unsigned int). */
export const TUNSETIFF = 0x400454ca;
export const TUNGETFEATURES = 0x800454cf;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
/** TUNSETOFFLOAD bits: what the TAP may hand us (guest receive offloads). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
/** IFNAMSIZ (linux/if.h), including the terminating NUL. */
export const IFNAMSIZ = 16;
const IFREQ_BYTES = 40;
/** The vnet header we use: virtio_net_hdr_v1 (with num_buffers). */
export const TAP_VNET_HDR_BYTES = 12;
const EAGAIN = 11;
const EBADF = 9;

/** A frame back end for virtio-net: each frame starts with a 12-byte virtio_net_hdr_v1. */
export interface NetBackend {
  readonly name: string;
  /** Sends one frame (header + packet); returns the bytes taken or -errno. */
  send(frame: Uint8Array): number;
  /** Receives one frame into `buf`; returns its length, 0 when none is waiting, or -errno. */
  receive(buf: Uint8Array): number;
  /** Applies TUN_F_* offloads (what the guest accepted); returns false when the back end refuses. */
  setOffload(flags: number): boolean;
  /** TUN_F_* offloads the back end supports for the guest's receive path. */
  readonly supportedOffloads: number;
  close(): void;
}

export function validateTapName(name: string): void {
  if (name === '' || Buffer.byteLength(name) >= IFNAMSIZ || !/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..') {
    throw new TshvError(`Cannot use TAP name "${name}": expected 1-15 characters of letters, digits, '_', '.', '-'`);
  }
}

export class TapDevice implements NetBackend {
  readonly supportedOffloads: number;
  private closed = false;

  private constructor(readonly name: string, readonly fd: number, readonly created: boolean) {
    // Probe once which offloads this kernel's TAP accepts; leave them all off until the guest says.
    let ok = 0;
    for (const f of [TUN_F_CSUM, TUN_F_TSO4 | TUN_F_CSUM, TUN_F_TSO6 | TUN_F_CSUM, TUN_F_TSO_ECN | TUN_F_TSO4 | TUN_F_CSUM, TUN_F_UFO | TUN_F_CSUM]) {
      try {
        ioctlArg(fd, TUNSETOFFLOAD, f, 'TUNSETOFFLOAD');
        ok |= f;
      } catch { /* this offload is not available */ }
    }
    this.supportedOffloads = ok;
    try { ioctlArg(fd, TUNSETOFFLOAD, 0, 'TUNSETOFFLOAD'); } catch { /* keep */ }
  }

  /** Whether an interface of that name exists in our network namespace. */
  static exists(name: string): boolean {
    return existsSync(`/sys/class/net/${name}`);
  }

  /** Opens (or creates, non-persistent) the TAP `name`. Throws TshvError with the reason. */
  static open(name: string): TapDevice {
    validateTapName(name);
    const existed = TapDevice.exists(name);
    let fd: number;
    try {
      fd = openPath('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
    } catch (e) {
      throw new TshvError(`Cannot attach TAP "${name}": /dev/net/tun: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      const ifr = new Uint8Array(IFREQ_BYTES);
      ifr.set(Buffer.from(name), 0);
      new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, true);
      ioctlBuf(fd, TUNSETIFF, ifr, 'TUNSETIFF');
      const sz = new Uint8Array(4);
      new DataView(sz.buffer).setInt32(0, TAP_VNET_HDR_BYTES, true);
      ioctlBuf(fd, TUNSETVNETHDRSZ, sz, 'TUNSETVNETHDRSZ');
    } catch (e) {
      close(fd);
      const why = e instanceof SysError && e.errno === 16 ? 'it is in use or is not a TAP with a vnet header' : e instanceof Error ? e.message : String(e);
      throw new TshvError(`Cannot attach TAP "${name}": ${why}`);
    }
    return new TapDevice(name, fd, !existed);
  }

  // After close() the fd number may belong to another file: every call checks `closed` first.
  send(frame: Uint8Array): number {
    return this.closed ? -EBADF : writeRaw(this.fd, frame);
  }

  receive(buf: Uint8Array): number {
    if (this.closed) return 0;
    const n = readRaw(this.fd, buf);
    return n === -EAGAIN ? 0 : n;
  }

  setOffload(flags: number): boolean {
    if (this.closed || (flags & ~this.supportedOffloads) !== 0) return false;
    try {
      ioctlArg(this.fd, TUNSETOFFLOAD, flags, 'TUNSETOFFLOAD');
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the fd; a TAP we created disappears with it (it was never made persistent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }
}

/** An in-memory back end for tests: frames the guest sent, frames waiting for the guest. */
export class LoopbackNetBackend implements NetBackend {
  readonly sent: Uint8Array[] = [];
  readonly inbox: Uint8Array[] = [];
  offload = 0;
  closed = false;
  constructor(readonly name = 'loopback', readonly supportedOffloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO) {}
  send(frame: Uint8Array): number {
    this.sent.push(Uint8Array.from(frame));
    return frame.byteLength;
  }
  receive(buf: Uint8Array): number {
    const f = this.inbox.shift();
    if (f === undefined) return 0;
    if (f.byteLength > buf.byteLength) return -90; // EMSGSIZE
    buf.set(f);
    return f.byteLength;
  }
  setOffload(flags: number): boolean {
    if ((flags & ~this.supportedOffloads) !== 0) return false;
    this.offload = flags;
    return true;
  }
  close(): void {
    this.closed = true;
  }
}
