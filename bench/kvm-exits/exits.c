/*
 * C reference for bench/kvm-exits: PIO or MMIO exit round trips per second on /dev/kvm, the
 * cheapest a VMM can do (one thread, KVM_RUN in a loop, a trivial "device" in the same thread).
 * The guest is 16-bit real-mode code at 0x1000:
 *   pio-out:    out 0x80, al ; jmp $-2      (e6 80 eb fc)
 *   pio-in:     in al, 0x80 ; jmp $-2       (e4 80 eb fc)
 *   mmio-write: mov [0x8000], al ; jmp $-3  (a2 00 80 eb fb), with RAM only below 0x8000
 *   mmio-read:  mov al, [0x8000] ; jmp $-3  (a0 00 80 eb fb)
 * A read's result is written back into the kvm_run page, as a VMM must.
 * With a third argument "64", the guest and VM are those of the tshv engine bench instead: 64-bit
 * code (long mode, identity-mapped 2 MiB pages) at 0x1000, the MMIO address 0xd0000000 in rbx,
 * and the in-kernel irqchip and PIT every PC-like VMM creates (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2):
 *   pio-out: out 0x80, al ; jmp $-2   pio-in: in al, 0x80 ; jmp $-2   (as above)
 *   mmio-write: mov [rbx], al ; jmp $-2 (88 03 eb fc)   mmio-read: mov al, [rbx] ; jmp $-2 (8a 03 eb fc)
 * Both cost on every exit (on a nested kvm_pvm host: long mode ~0.3 µs, the irqchip ~0.8 µs of
 * ~7.5 µs), so the engine is compared with this one.
 * usage: exits MODE COUNT [64]   → prints "<mode> <count> <seconds> <exits per second>"
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
  if (argc != 3 && argc != 4) { fprintf(stderr, "usage: %s pio-out|pio-in|mmio-write|mmio-read COUNT [64]\n", argv[0]); return 2; }
  long count = atol(argv[2]);
  int long_mode = argc == 4 && !strcmp(argv[3], "64");
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  size_t ram_size = long_mode ? 0x200000 : 0x8000;
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
  static const unsigned char mmio_write64[] = { 0x88, 0x03, 0xeb, 0xfc };
  static const unsigned char mmio_read64[] = { 0x8a, 0x03, 0xeb, 0xfc };
  if (long_mode && code == mmio_write) { code = mmio_write64; len = sizeof mmio_write64; }
  if (long_mode && code == mmio_read) { code = mmio_read64; len = sizeof mmio_read64; }
  memcpy(ram + 0x1000, code, len);
  if (long_mode) {
    /* PML4 @0x2000 → PDPT @0x3000; PDPT[0] → PD @0x4000 (0-2 MiB: RAM), PDPT[3] → PD @0x5000 (0xd0000000). */
    unsigned long long *pml4 = (void *)(ram + 0x2000), *pdpt = (void *)(ram + 0x3000);
    unsigned long long *pd0 = (void *)(ram + 0x4000), *pd3 = (void *)(ram + 0x5000);
    pml4[0] = 0x3000 | 3; pdpt[0] = 0x4000 | 3; pdpt[3] = 0x5000 | 3;
    pd0[0] = 0x0 | 0x83; /* present, writable, 2 MiB page */
    pd3[(0xd0000000ULL - 0xc0000000ULL) >> 21] = 0xd0000000ULL | 0x83;
  }
  struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = ram_size, .userspace_addr = (unsigned long)ram };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  if (long_mode) {
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0) die("KVM_CREATE_PIT2");
  }
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  sregs.cs.base = 0; sregs.cs.selector = 0; sregs.ds.base = 0; sregs.ds.selector = 0;
  if (long_mode) {
    struct kvm_segment code_seg = { .base = 0, .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1, .s = 1, .l = 1, .g = 1 };
    struct kvm_segment data_seg = { .base = 0, .limit = 0xffffffff, .selector = 16, .type = 3, .present = 1, .s = 1, .db = 1, .g = 1 };
    sregs.cs = code_seg;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data_seg;
    sregs.cr3 = 0x2000;
    sregs.cr4 = 0x20; /* PAE */
    sregs.cr0 = 0x80000011; /* PG, ET, PE */
    sregs.efer = 0x500; /* LME, LMA */
  }
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = { .rip = 0x1000, .rflags = 2, .rax = 0x42, .rbx = 0xd0000000 };
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
