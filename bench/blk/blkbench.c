/* Guest side of bench/blk: O_DIRECT block I/O on a raw device, timed with CLOCK_MONOTONIC.
 * Compiled statically on the host at bench time and carried into the guest on a second disk.
 *   blkbench seqread  DEV MIB        sequential 1 MiB reads of the first MIB MiB
 *   blkbench seqwrite DEV MIB        sequential 1 MiB writes (pattern), then fdatasync
 *   blkbench randread DEV MIB COUNT  COUNT reads of 4 KiB at random 4 KiB-aligned offsets in the first MIB MiB
 * Prints "blkbench-start MODE" before its I/O and "blkbench MODE bytes=N ns=T" after. O_DIRECT
 * bypasses the guest's page cache, so every byte goes through the virtio-blk device. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: blkbench seqread|seqwrite|randread DEV MIB [COUNT]\n"); return 2; }
  const char *mode = argv[1];
  const char *dev = argv[2];
  const uint64_t mib = strtoull(argv[3], 0, 10);
  const uint64_t chunk = 1 << 20;
  int write_mode = strcmp(mode, "seqwrite") == 0;
  int fd = open(dev, (write_mode ? O_WRONLY : O_RDONLY) | O_DIRECT);
  if (fd < 0) die("open");
  void *buf;
  if (posix_memalign(&buf, 4096, chunk) != 0) die("posix_memalign");
  memset(buf, 0xa5, chunk);
  /* The host times the I/O loop from this line to the result line (bench.mjs: the pass without
   * the program's start and exit). */
  printf("blkbench-start %s\n", mode);
  fflush(stdout);
  uint64_t bytes = 0, t0 = now_ns();
  if (strcmp(mode, "seqread") == 0 || write_mode) {
    for (uint64_t i = 0; i < mib; i++) {
      ssize_t n = write_mode ? pwrite(fd, buf, chunk, (off_t)(i * chunk)) : pread(fd, buf, chunk, (off_t)(i * chunk));
      if (n != (ssize_t)chunk) die(write_mode ? "pwrite" : "pread");
      bytes += (uint64_t)n;
    }
    if (write_mode && fdatasync(fd) != 0) die("fdatasync");
  } else if (strcmp(mode, "randread") == 0 && argc >= 5) {
    const uint64_t count = strtoull(argv[4], 0, 10);
    const uint64_t blocks = mib * 256;
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (uint64_t i = 0; i < count; i++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17; /* xorshift64: the same offsets on every engine */
      ssize_t n = pread(fd, buf, 4096, (off_t)((x % blocks) * 4096));
      if (n != 4096) die("pread");
      bytes += 4096;
    }
  } else {
    fprintf(stderr, "blkbench: unknown mode %s\n", mode);
    return 2;
  }
  uint64_t t1 = now_ns();
  printf("blkbench %s bytes=%llu ns=%llu\n", mode, (unsigned long long)bytes, (unsigned long long)(t1 - t0));
  return 0;
}
