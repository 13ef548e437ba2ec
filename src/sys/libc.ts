// The only place that talks to libc (through koffi, shared/STYLE.md layer 1). Each wrapper turns a
// -1 return into a SysError naming the call and errno, so callers never see raw return codes.

import { createRequire } from 'node:module';
import { TshvError } from '../common/errors.js';

const require = createRequire(import.meta.url);
// koffi ships prebuilt binaries; it is CommonJS.
 
const koffi = require('koffi') as typeof import('koffi');

export { koffi };

const libc = koffi.load('libc.so.6');

export class SysError extends TshvError {
  readonly errno: number;
  readonly call: string;
  constructor(call: string, errno: number, what = '') {
    super(`${call}${what ? ` (${what})` : ''} failed: ${errnoName(errno)}`);
    this.call = call;
    this.errno = errno;
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 24: 'EMFILE', 25: 'ENOTTY',
  28: 'ENOSPC', 38: 'ENOSYS', 95: 'EOPNOTSUPP',
};
export function errnoName(errno: number): string {
  return `${ERRNO_NAMES[errno] ?? 'errno'} (${errno})`;
}

const c = {
  memfd_create: libc.func('int memfd_create(const char *name, unsigned int flags)'),
  ftruncate: libc.func('int ftruncate(int fd, int64_t length)'),
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
  // The same call with the address taken from a typed array's bytes (MAP_FIXED over memory V8 owns).
  mmapOver: libc.func('void *mmap(uint8_t *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
  munmap: libc.func('int munmap(void *addr, size_t length)'),
  madvise: libc.func('int madvise(uint64_t addr, size_t length, int advice)'),
  close: libc.func('int close(int fd)'),
  // memmove of 0 bytes returns its destination: the host address of a typed array's bytes.
  addressOf: libc.func('uint64_t memmove(uint8_t *dst, uint8_t *src, size_t n)'),
  // struct iovec arrays (u64 base, u64 len) built by the caller, bases inside memory it owns.
  preadv: libc.func('int64_t preadv(int fd, uint8_t *iov, int iovcnt, int64_t offset)'),
  pwritev: libc.func('int64_t pwritev(int fd, uint8_t *iov, int iovcnt, int64_t offset)'),
};

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MFD_CLOEXEC = 1;
export const MADV_DONTNEED = 4;
export const MADV_REMOVE = 9;
export const MADV_MERGEABLE = 12;
export const MADV_HUGEPAGE = 14;

function check(call: string, ret: number, what = ''): number {
  if (ret < 0) throw new SysError(call, koffi.errno(), what);
  return ret;
}

/**
 * The host address of `view`'s first byte. Only for views of memory that never moves: an
 * ArrayBuffer outside V8's heap (large buffers, wasm memories, mappings), not a small one.
 */
export function addressOf(view: Uint8Array): number {
  return c.addressOf(view, view, 0) as number;
}

/**
 * preadv(2)/pwritev(2) over `count` struct iovec (u64 base, u64 length) in `iov`: one system call
 * for a request's buffers where Node's readvSync made a view per buffer and read each back
 * through the V8 API. Returns the bytes moved (short at the end of the file).
 */
export function preadv(fd: number, iov: Uint8Array, count: number, offsetBytes: number): number {
  if (iov.byteLength < count * 16) throw new RangeError(`preadv: ${count} iovecs in ${iov.byteLength} bytes`);
  return check('preadv', c.preadv(fd, iov, count, offsetBytes) as number);
}

export function pwritev(fd: number, iov: Uint8Array, count: number, offsetBytes: number): number {
  if (iov.byteLength < count * 16) throw new RangeError(`pwritev: ${count} iovecs in ${iov.byteLength} bytes`);
  return check('pwritev', c.pwritev(fd, iov, count, offsetBytes) as number);
}

export function memfdCreate(name: string, flags = MFD_CLOEXEC): number {
  return check('memfd_create', c.memfd_create(name, flags) as number, name);
}

export function ftruncate(fd: number, lengthBytes: number): void {
  check('ftruncate', c.ftruncate(fd, lengthBytes) as number);
}

export function close(fd: number): void {
  check('close', c.close(fd) as number);
}

/** A mapping seen from JS as an ArrayBuffer (koffi.view: no copy). */
export interface Mapping {
  readonly pointer: unknown;
  readonly address: bigint;
  readonly buffer: ArrayBuffer;
  readonly lengthBytes: number;
}

export function mmap(lengthBytes: number, prot: number, flags: number, fd: number, offsetBytes = 0): Mapping {
  const ptr = c.mmap(null, lengthBytes, prot, flags, fd, offsetBytes);
  const address = koffi.address(ptr);
  if (address === 0xffffffffffffffffn || ptr === null) throw new SysError('mmap', koffi.errno(), `${lengthBytes} bytes`);
  const buffer = koffi.view(ptr, lengthBytes);
  return { pointer: ptr, address, buffer, lengthBytes };
}

export const MAP_FIXED = 0x10;

/**
 * Maps `fd` (or anonymous memory with fd -1 and MAP_ANONYMOUS) MAP_FIXED over the bytes of
 * `target`, which must be page-aligned: the bytes stay where they are and now show the mapping.
 */
export function mmapOver(target: Uint8Array, prot: number, flags: number, fd: number, offsetBytes = 0): void {
  const ptr = c.mmapOver(target, target.byteLength, prot, flags | MAP_FIXED, fd, offsetBytes);
  if (ptr === null || koffi.address(ptr) === 0xffffffffffffffffn) throw new SysError('mmap', koffi.errno(), `${target.byteLength} bytes over existing memory`);
}

export function munmap(m: Mapping): void {
  check('munmap', c.munmap(m.pointer, m.lengthBytes) as number);
}

export function madvise(m: Mapping, offsetBytes: number, lengthBytes: number, advice: number): void {
  check('madvise', c.madvise(m.address + BigInt(offsetBytes), lengthBytes, advice) as number);
}

// ioctl with a pointer argument (a Buffer the kernel reads and/or writes) or an integer argument.
const ioctlPtr = libc.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)');
const ioctlInt = libc.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
const openFn = libc.func('int open(const char *path, int flags, int mode)');

export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;
/** open(2) flag: reads and writes return EAGAIN instead of blocking (TAP fds, issue 4). */
export const O_NONBLOCK = 0o4000;

export function openPath(path: string, flags: number): number {
  const fd = openFn(path, flags, 0) as number;
  if (fd < 0) throw new SysError('open', koffi.errno(), path);
  return fd;
}

/** ioctl(fd, request, buf); returns the non-negative result, throws SysError naming `name`. */
export function ioctlBuf(fd: number, request: number, buf: Uint8Array, name: string): number {
  const r = ioctlPtr(fd, request, buf) as number;
  if (r < 0) throw new SysError(name, koffi.errno());
  return r;
}

/** ioctl(fd, request, integer); returns the non-negative result, throws SysError naming `name`. */
export function ioctlArg(fd: number, request: number, arg: number | bigint, name: string): number {
  const r = ioctlInt(fd, request, arg) as number;
  if (r < 0) throw new SysError(name, koffi.errno());
  return r;
}

/** Raw variant for hot paths (KVM_RUN): returns -errno instead of throwing. */
export function ioctlArgRaw(fd: number, request: number, arg: number): number {
  const r = ioctlInt(fd, request, arg) as number;
  return r < 0 ? -koffi.errno() : r;
}

// --- Threads, signals and eventfds (for the KVM engine's vCPU workers and virtio plumbing) ---
// gettid/tgkill are glibc >= 2.30 wrappers; pthread_sigmask acts on the calling OS thread, which
// inside a worker_thread is that worker's own thread.

const t = {
  gettid: libc.func('int gettid(void)'),
  getpid: libc.func('int getpid(void)'),
  tgkill: libc.func('int tgkill(int tgid, int tid, int sig)'),
  pthread_sigmask: libc.func('int pthread_sigmask(int how, const uint8_t *set, _Out_ uint8_t *oldset)'),
  sigtimedwait: libc.func('int sigtimedwait(const uint8_t *set, void *info, const uint8_t *timeout)'),
  eventfd: libc.func('int eventfd(unsigned int initval, int flags)'),
  read: libc.func('int64_t read(int fd, _Out_ uint8_t *buf, size_t count)'),
  write: libc.func('int64_t write(int fd, const uint8_t *buf, size_t count)'),
};

/** glibc's sigset_t is 1024 bits; the kernel's (what KVM_SET_SIGNAL_MASK takes) is the first 64. */
export const SIGSET_BYTES = 128;
export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
export const SIG_SETMASK = 2;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

/** A sigset_t with the given signals set (bit s-1 for signal s, as the kernel lays it out). */
export function sigset(signals: number[]): Uint8Array {
  const b = new Uint8Array(SIGSET_BYTES);
  for (const s of signals) b[(s - 1) >> 3]! |= 1 << ((s - 1) & 7);
  return b;
}

export function gettid(): number { return t.gettid() as number; }
export function getpid(): number { return t.getpid() as number; }

/** Sends `sig` to one thread of process `tgid`. */
export function tgkill(tgid: number, tid: number, sig: number): void {
  check('tgkill', t.tgkill(tgid, tid, sig) as number, `thread ${tid}, signal ${sig}`);
}

/** pthread_sigmask for the calling thread; returns the previous mask. */
export function threadSigmask(how: number, set: Uint8Array): Uint8Array {
  const old = new Uint8Array(SIGSET_BYTES);
  const r = t.pthread_sigmask(how, set, old) as number;
  if (r !== 0) throw new SysError('pthread_sigmask', r);
  return old;
}

const ZERO_TIMESPEC = new Uint8Array(16);
/** Consumes one pending signal of `set` without waiting; returns it, or 0 when none was pending. */
export function sigtimedwaitNow(set: Uint8Array): number {
  const r = t.sigtimedwait(set, null, ZERO_TIMESPEC) as number;
  return r > 0 ? r : 0;
}

export function eventfd(initval = 0, flags = EFD_CLOEXEC | EFD_NONBLOCK): number {
  return check('eventfd', t.eventfd(initval, flags) as number);
}

/** read(2); returns bytes read, or -errno (EAGAIN on an empty non-blocking fd). */
export function readRaw(fd: number, buf: Uint8Array): number {
  const r = t.read(fd, buf, buf.byteLength) as number;
  return r < 0 ? -koffi.errno() : r;
}

/** write(2); returns bytes written, or -errno. */
export function writeRaw(fd: number, buf: Uint8Array): number {
  const r = t.write(fd, buf, buf.byteLength) as number;
  return r < 0 ? -koffi.errno() : r;
}

// --- fallocate(2), for disk back ends (issue 4: discard and write-zeroes punch holes) ---
const fa = {
  fallocate: libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
};
/** fallocate(2) mode bits (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** fallocate(fd, mode, offset, len); returns 0 or -errno (EOPNOTSUPP on file systems without holes). */
export function fallocateRaw(fd: number, mode: number, offsetBytes: number, lengthBytes: number): number {
  const r = fa.fallocate(fd, mode, offsetBytes, lengthBytes) as number;
  return r < 0 ? -koffi.errno() : 0;
}

// --- sync_file_range(2), for disk back ends' write-behind (issue 4) ---
const sfr = {
  syncFileRange: libc.func('int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags)'),
};
/** sync_file_range(2) flag: start writeback of the range's dirty pages, without waiting for it. */
export const SYNC_FILE_RANGE_WRITE = 2;

/** sync_file_range(fd, offset, nbytes, flags); returns 0 or -errno. */
export function syncFileRangeRaw(fd: number, offsetBytes: number, lengthBytes: number, flags: number): number {
  const r = sfr.syncFileRange(fd, offsetBytes, lengthBytes, flags) as number;
  return r < 0 ? -koffi.errno() : 0;
}

// --- poll(2), for readiness of non-blocking fds (a TAP watched from a worker thread, issue 4) ---
const pl = {
  poll: libc.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)'),
};
export const POLLIN = 0x001;
/** struct pollfd (int fd, short events, short revents) for one fd. */
const POLLFD_BYTES = 8;

/** Waits up to `timeoutMs` (-1: forever) for `fd` to become readable; 1 when it is, 0 on timeout, -errno on error. */
export function pollReadable(fd: number, timeoutMs: number): number {
  const pfd = new Uint8Array(POLLFD_BYTES);
  const v = new DataView(pfd.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, POLLIN, true);
  const r = pl.poll(pfd, 1, timeoutMs) as number;
  if (r < 0) return -koffi.errno();
  return r > 0 && (v.getInt16(6, true) & POLLIN) !== 0 ? 1 : 0;
}
