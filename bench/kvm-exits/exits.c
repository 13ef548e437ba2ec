/*
 * C reference for bench/kvm-exits: PIO or MMIO exit round trips per second on /dev/kvm, the
 * cheapest a VMM can do (one thread, KVM_RUN in a loop, a trivial "device" in the same thread).
 * The guest is 16-bit real-mode code at 0x1000:
 *   pio-out:    out 0x80, al ; jmp $-2      (e6 80 eb fc)
 *   pio-in:     in al, 0x80 ; jmp $-2       (e4 80 eb fc)
 *   mmio-write: mov [0x8000], al ; jmp $-3  (a2 00 80 eb fb), with RAM only below 0x8000
 *   mmio-read:  mov al, [0x8000] ; jmp $-3  (a0 00 80 eb fb)
 * A read's result is written back into the kvm_run page, as a VMM must.
 * usage: exits MODE COUNT   → prints "<mode> <count> <seconds> <exits per second>"
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s pio-out|pio-in|mmio-write|mmio-read COUNT\n", argv[0]); return 2; }
  long count = atol(argv[2]);
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  size_t ram_size = 0x8000;
  unsigned char *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (ram == MAP_FAILED) die("mmap");
  static const unsigned char pio_out[] = { 0xe6, 0x80, 0xeb, 0xfc };
  static const unsigned char pio_in[] = { 0xe4, 0x80, 0xeb, 0xfc };
  static const unsigned char mmio_write[] = { 0xa2, 0x00, 0x80, 0xeb, 0xfb };
  static const unsigned char mmio_read[] = { 0xa0, 0x00, 0x80, 0xeb, 0xfb };
  const unsigned char *code; size_t len;
  if (!strcmp(argv[1], "pio-out")) { code = pio_out; len = sizeof pio_out; }
  else if (!strcmp(argv[1], "pio-in")) { code = pio_in; len = sizeof pio_in; }
  else if (!strcmp(argv[1], "mmio-write")) { code = mmio_write; len = sizeof mmio_write; }
  else if (!strcmp(argv[1], "mmio-read")) { code = mmio_read; len = sizeof mmio_read; }
  else { fprintf(stderr, "unknown mode %s\n", argv[1]); return 2; }
  memcpy(ram + 0x1000, code, len);
  struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = ram_size, .userspace_addr = (unsigned long)ram };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  sregs.cs.base = 0; sregs.cs.selector = 0; sregs.ds.base = 0; sregs.ds.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = { .rip = 0x1000, .rflags = 2, .rax = 0x42 };
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  volatile unsigned sink = 0;
  unsigned char device_register = 0x5a;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < count; i++) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    if (run->exit_reason == KVM_EXIT_IO) {
      unsigned char *data = (unsigned char *)run + run->io.data_offset;
      if (run->io.direction == KVM_EXIT_IO_OUT) sink += *data; else *data = device_register;
    } else if (run->exit_reason == KVM_EXIT_MMIO) {
      if (run->mmio.is_write) sink += run->mmio.data[0]; else run->mmio.data[0] = device_register;
    }
    else { fprintf(stderr, "unexpected exit %u\n", run->exit_reason); return 1; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%s %ld %.6f %.0f\n", argv[1], count, s, count / s);
  return 0;
}
