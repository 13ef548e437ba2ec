/* Guest side of bench/ops: the operating-system work that every guest workload does between its
 * own instructions, each in a loop timed by the host (bench.mjs) from the "opsbench-start" line
 * to the result line:
 *   opsbench fault MIB     anonymous page faults: map MIB MiB, write one byte per 4 KiB page, unmap
 *   opsbench syscall N     N getppid() system calls (the cheapest round trip into the kernel)
 *   opsbench spawn N       N times fork, exec of this program ("noop"), exit and wait
 * Compiled statically on the host at bench time and carried into the guest on a read-only disk. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "noop") == 0) return 0;
  if (argc < 3) { fprintf(stderr, "usage: opsbench fault MIB | syscall N | spawn N\n"); return 2; }
  const char *mode = argv[1];
  const unsigned long n = strtoul(argv[2], 0, 10);
  unsigned long count = 0;
  printf("opsbench-start %s\n", mode);
  fflush(stdout);
  if (strcmp(mode, "fault") == 0) {
    const size_t len = n << 20;
    volatile char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    for (size_t o = 0; o < len; o += 4096) { p[o] = 1; count++; }
    munmap((void *)p, len);
  } else if (strcmp(mode, "syscall") == 0) {
    for (unsigned long i = 0; i < n; i++) { getppid(); count++; }
  } else if (strcmp(mode, "spawn") == 0) {
    for (unsigned long i = 0; i < n; i++) {
      pid_t pid = fork();
      if (pid < 0) { perror("fork"); return 1; }
      if (pid == 0) { execl("/proc/self/exe", argv[0], "noop", (char *)0); _exit(127); }
      int status;
      if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "opsbench: child failed\n"); return 1; }
      count++;
    }
  } else {
    fprintf(stderr, "opsbench: unknown mode %s\n", mode);
    return 2;
  }
  printf("opsbench %s count=%lu\n", mode, count);
  return 0;
}
