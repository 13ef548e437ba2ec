// Native oracle for the differential CPU tests (src/cpu/testing/diff.test.ts).
//
// Compiled at test time with the machine's gcc. Reads test cases from stdin, runs each
// instruction sequence natively on the host CPU with the given registers, flags, XMM registers,
// MXCSR and data page, and writes the resulting state to stdout. The TypeScript side runs the
// same cases on the soft CPU and compares.
//
// Wire format (all little-endian), see src/cpu/testing/diff-oracle.ts which writes and reads it:
//   stream header: u32 magic "TSDF", u32 case count, u64 data page address
//   per case in:   u32 codeLen, u32 dataLen, u32 rflags, u32 mxcsr, u32 mode (64, 32 or 16), u32 0,
//                  u64 gpr[16], u8 xmm[16][16], code[codeLen], data[dataLen]
//   per case out:  u32 status (0 = reached the end; 0x100 | vector = CPU exception),
//                  u32 mxcsr, u64 rflags, u64 gpr[16], u8 xmm[16][16], data[dataLen]
//                  (after an exception: the state at the faulting instruction, from the signal frame)
//
// How a case runs: the code is copied into an RWX page and followed by an absolute indirect jump
// back into the trampoline (FF 25 = JMP m64, RIP-relative to the 8 bytes that follow it), so it
// needs no free register. The trampoline loads every GPR (RSP included: cases may use a stack in
// the data page) from a global block with RIP-relative moves, which change no flag, after POPFQ
// loaded RFLAGS. On the way back it stores every GPR the same way before touching RSP.
// The x87 FPU starts every case freshly initialized (FNINIT), like the soft CPU's reset state.
// CPU exceptions arrive as signals (SIGFPE for #DE, SIGSEGV, SIGILL, SIGBUS); the handler runs on an
// alternate stack (RSP may point anywhere) and siglongjmps back to the driver loop.
//
// Mode 16 runs it in 16-bit protected mode: a 16-bit code segment in the LDT based at the code
// page, and DS/ES/SS a 16-bit data segment based at the data page, so 16-bit offsets address the
// data page as in the soft CPU's 'real16' snippet mode (segment bases = the data page).
// Mode 32 runs the code in 32-bit compatibility mode (Linux's 32-bit user code segment), so the
// soft CPU's 32-bit protected-mode decoding can be checked too; only EAX..EDI and XMM0..7 exist
// there. The binary must be linked below 4 GiB (gcc -no-pie) and the code page is mapped there
// (MAP_32BIT). The kernel needs IA-32 emulation; without it the far jump faults and every mode-32
// case reports #GP (the TypeScript side probes for that and skips them).

#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/ldt.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define PAGE_SIZE 4096u
#define MAX_CODE 2048u
#define STATUS_FAULT 0x100u

// Register block shared with the trampoline; offsets are hard-coded in the assembly below and
// checked by the static asserts.
struct block {
  uint64_t in_gpr[16];   // 0
  uint64_t in_rflags;    // 128
  uint32_t in_mxcsr;     // 136
  uint32_t pad0;
  uint64_t code_ptr;     // 144
  uint64_t host_rsp;     // 152
  uint64_t out_gpr[16];  // 160
  uint64_t out_rflags;   // 288
  uint32_t out_mxcsr;    // 296
  uint32_t pad1;
  uint8_t in_xmm[256];   // 304
  uint8_t out_xmm[256];  // 560
};
_Static_assert(offsetof(struct block, in_rflags) == 128, "layout");
_Static_assert(offsetof(struct block, in_mxcsr) == 136, "layout");
_Static_assert(offsetof(struct block, code_ptr) == 144, "layout");
_Static_assert(offsetof(struct block, host_rsp) == 152, "layout");
_Static_assert(offsetof(struct block, out_gpr) == 160, "layout");
_Static_assert(offsetof(struct block, out_rflags) == 288, "layout");
_Static_assert(offsetof(struct block, out_mxcsr) == 296, "layout");
_Static_assert(offsetof(struct block, in_xmm) == 304, "layout");
_Static_assert(offsetof(struct block, out_xmm) == 560, "layout");

__attribute__((visibility("hidden"), aligned(64))) struct block g_blk;

void tramp_run(void);
void tramp_back(void);
void tramp_run32(void);
void tramp_back32(void);
// Far pointer (m16:32) to the 32-bit entry, and a small stack below 4 GiB for the 32-bit stubs
// (the host stack is above 4 GiB, out of reach of ESP).
__attribute__((aligned(16))) struct { uint32_t offset; uint16_t selector; } g_far32;
__attribute__((aligned(16))) uint8_t g_stack32[256];

// Linux x86-64 user segment selectors (arch/x86/include/asm/segment.h): __USER32_CS = 0x23,
// __USER_DS = 0x2b, __USER_CS = 0x33.
__asm__(
    ".intel_syntax noprefix\n"
    ".macro LOAD_XMM\n"
    "  .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  movdqu xmm\\n, [rip + g_blk + 304 + \\n*16]\n"
    "  .endr\n"
    ".endm\n"
    ".macro SAVE_XMM_AND_RETURN\n"
    "  .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
    "  movdqu [rip + g_blk + 560 + \\n*16], xmm\\n\n"
    "  .endr\n"
    "  cld\n"
    "  push 0x1f80\n"
    "  ldmxcsr [rsp]\n"
    "  add rsp, 8\n"
    "  pop r15\n pop r14\n pop r13\n pop r12\n pop rbp\n pop rbx\n"
    "  ret\n"
    ".endm\n"
    ".text\n"
    // 64-bit mode.
    ".globl tramp_run\n"
    ".type tramp_run, @function\n"
    "tramp_run:\n"
    "  push rbx\n push rbp\n push r12\n push r13\n push r14\n push r15\n"
    "  mov [rip + g_blk + 152], rsp\n"
    "  fninit\n"
    "  LOAD_XMM\n"
    "  ldmxcsr [rip + g_blk + 136]\n"
    "  push qword ptr [rip + g_blk + 128]\n"
    "  popfq\n"
    "  mov rax, [rip + g_blk + 0*8]\n"
    "  mov rcx, [rip + g_blk + 1*8]\n"
    "  mov rdx, [rip + g_blk + 2*8]\n"
    "  mov rbx, [rip + g_blk + 3*8]\n"
    "  mov rsp, [rip + g_blk + 4*8]\n"
    "  mov rbp, [rip + g_blk + 5*8]\n"
    "  mov rsi, [rip + g_blk + 6*8]\n"
    "  mov rdi, [rip + g_blk + 7*8]\n"
    "  mov r8, [rip + g_blk + 8*8]\n"
    "  mov r9, [rip + g_blk + 9*8]\n"
    "  mov r10, [rip + g_blk + 10*8]\n"
    "  mov r11, [rip + g_blk + 11*8]\n"
    "  mov r12, [rip + g_blk + 12*8]\n"
    "  mov r13, [rip + g_blk + 13*8]\n"
    "  mov r14, [rip + g_blk + 14*8]\n"
    "  mov r15, [rip + g_blk + 15*8]\n"
    "  jmp qword ptr [rip + g_blk + 144]\n"
    ".globl tramp_back\n"
    ".type tramp_back, @function\n"
    "tramp_back:\n"
    "  mov [rip + g_blk + 160 + 0*8], rax\n"
    "  mov [rip + g_blk + 160 + 1*8], rcx\n"
    "  mov [rip + g_blk + 160 + 2*8], rdx\n"
    "  mov [rip + g_blk + 160 + 3*8], rbx\n"
    "  mov [rip + g_blk + 160 + 4*8], rsp\n"
    "  mov [rip + g_blk + 160 + 5*8], rbp\n"
    "  mov [rip + g_blk + 160 + 6*8], rsi\n"
    "  mov [rip + g_blk + 160 + 7*8], rdi\n"
    "  mov [rip + g_blk + 160 + 8*8], r8\n"
    "  mov [rip + g_blk + 160 + 9*8], r9\n"
    "  mov [rip + g_blk + 160 + 10*8], r10\n"
    "  mov [rip + g_blk + 160 + 11*8], r11\n"
    "  mov [rip + g_blk + 160 + 12*8], r12\n"
    "  mov [rip + g_blk + 160 + 13*8], r13\n"
    "  mov [rip + g_blk + 160 + 14*8], r14\n"
    "  mov [rip + g_blk + 160 + 15*8], r15\n"
    "  mov rsp, [rip + g_blk + 152]\n"
    "  pushfq\n"
    "  pop qword ptr [rip + g_blk + 288]\n"
    "  stmxcsr [rip + g_blk + 296]\n"
    "  SAVE_XMM_AND_RETURN\n"
    // 32-bit compatibility mode: far jump to a 32-bit code segment, load the 8 legacy GPRs with
    // absolute addresses (the binary is linked below 4 GiB with -no-pie), run, store, and far
    // jump back to the 64-bit code segment.
    ".globl tramp_run32\n"
    ".type tramp_run32, @function\n"
    "tramp_run32:\n"
    "  push rbx\n push rbp\n push r12\n push r13\n push r14\n push r15\n"
    "  mov [rip + g_blk + 152], rsp\n"
    "  fninit\n"
    "  LOAD_XMM\n"
    "  ldmxcsr [rip + g_blk + 136]\n"
    "  jmp fword ptr [rip + g_far32]\n"
    ".code32\n"
    ".globl tramp_entry32\n"
    "tramp_entry32:\n"
    "  mov eax, 0x2b\n"
    "  mov ds, eax\n"
    "  mov es, eax\n"
    "  lea esp, [g_stack32 + 256]\n"
    "  push dword ptr [g_blk + 128]\n"
    "  popfd\n"
    "  mov eax, [g_blk + 0*8]\n"
    "  mov ecx, [g_blk + 1*8]\n"
    "  mov edx, [g_blk + 2*8]\n"
    "  mov ebx, [g_blk + 3*8]\n"
    "  mov esp, [g_blk + 4*8]\n"
    "  mov ebp, [g_blk + 5*8]\n"
    "  mov esi, [g_blk + 6*8]\n"
    "  mov edi, [g_blk + 7*8]\n"
    "  jmp dword ptr [g_blk + 144]\n"
    ".globl tramp_back32\n"
    "tramp_back32:\n"
    "  mov [g_blk + 160 + 0*8], eax\n"
    "  mov [g_blk + 160 + 1*8], ecx\n"
    "  mov [g_blk + 160 + 2*8], edx\n"
    "  mov [g_blk + 160 + 3*8], ebx\n"
    "  mov [g_blk + 160 + 4*8], esp\n"
    "  mov [g_blk + 160 + 5*8], ebp\n"
    "  mov [g_blk + 160 + 6*8], esi\n"
    "  mov [g_blk + 160 + 7*8], edi\n"
    "  lea esp, [g_stack32 + 256]\n"
    "  pushfd\n"
    "  pop dword ptr [g_blk + 288]\n"
    "  jmp 0x33:tramp_back64\n"
    // 16-bit mode: from the 32-bit stub, switch SS/ES/DS to a 16-bit LDT data segment based at
    // the data page and far jump to a 16-bit LDT code segment based at the code page.
    ".globl tramp_entry16\n"
    "tramp_entry16:\n"
    "  mov eax, 0x2b\n"
    "  mov ds, eax\n"
    "  mov es, eax\n"
    "  lea esp, [g_stack32 + 256]\n"
    "  push dword ptr [g_blk + 128]\n"
    "  popfd\n"
    "  mov ss, word ptr [g_sel16]\n"
    "  mov esp, [g_blk + 4*8]\n"
    "  mov es, word ptr [g_sel16]\n"
    "  mov eax, [g_blk + 0*8]\n"
    "  mov ecx, [g_blk + 1*8]\n"
    "  mov edx, [g_blk + 2*8]\n"
    "  mov ebx, [g_blk + 3*8]\n"
    "  mov ebp, [g_blk + 5*8]\n"
    "  mov esi, [g_blk + 6*8]\n"
    "  mov edi, [g_blk + 7*8]\n"
    "  mov ds, word ptr [g_sel16]\n"
    "  jmp fword ptr cs:[g_far16]\n"
    // Back from 16-bit code (66 EA far jump): DS still has the data page as base, so EAX is
    // parked in the stash page after the data page before DS is made flat again.
    ".globl tramp_back16\n"
    "tramp_back16:\n"
    "  mov dword ptr [0x1000], eax\n"
    "  mov eax, 0x2b\n"
    "  mov ds, eax\n"
    "  mov [g_blk + 160 + 1*8], ecx\n"
    "  mov ecx, [g_stash_lin]\n"
    "  mov ecx, [ecx]\n"
    "  mov [g_blk + 160 + 0*8], ecx\n"
    "  mov [g_blk + 160 + 2*8], edx\n"
    "  mov [g_blk + 160 + 3*8], ebx\n"
    "  mov [g_blk + 160 + 4*8], esp\n"
    "  mov [g_blk + 160 + 5*8], ebp\n"
    "  mov [g_blk + 160 + 6*8], esi\n"
    "  mov [g_blk + 160 + 7*8], edi\n"
    "  mov ss, eax\n"
    "  mov es, eax\n"
    "  lea esp, [g_stack32 + 256]\n"
    "  pushfd\n"
    "  pop dword ptr [g_blk + 288]\n"
    "  jmp 0x33:tramp_back64\n"
    ".code64\n"
    ".globl tramp_run16\n"
    ".type tramp_run16, @function\n"
    "tramp_run16:\n"
    "  push rbx\n push rbp\n push r12\n push r13\n push r14\n push r15\n"
    "  mov [rip + g_blk + 152], rsp\n"
    "  fninit\n"
    "  LOAD_XMM\n"
    "  ldmxcsr [rip + g_blk + 136]\n"
    "  jmp fword ptr [rip + g_far32_16]\n"
    "tramp_back64:\n"
    "  mov rsp, [rip + g_blk + 152]\n"
    "  stmxcsr [rip + g_blk + 296]\n"
    "  SAVE_XMM_AND_RETURN\n"
    ".att_syntax prefix\n");
extern char tramp_entry32[];
extern char tramp_entry16[];
void tramp_run16(void);
void tramp_back16(void);
// 16-bit mode state: far pointers (m16:32) to the 32-bit stub that enters 16-bit code and to the
// 16-bit code itself, the LDT data selector, and where EAX is parked on the way back.
__attribute__((aligned(16))) struct { uint32_t offset; uint16_t selector; } g_far32_16, g_far16;
uint16_t g_sel16;
uint32_t g_stash_lin;

// LDT entries for 16-bit mode (modify_ldt(2), struct user_desc in <asm/ldt.h>): entry 0 a 16-bit
// code segment at the code page, entry 1 a 16-bit data segment at the data page, both 64 KiB.
static int setup_ldt16(uint32_t code_base, uint32_t data_base) {
  struct user_desc code = {.entry_number = 0, .base_addr = code_base, .limit = 0xffff, .seg_32bit = 0,
                           .contents = MODIFY_LDT_CONTENTS_CODE, .read_exec_only = 0, .useable = 1};
  struct user_desc data = {.entry_number = 1, .base_addr = data_base, .limit = 0xffff, .seg_32bit = 0,
                           .contents = MODIFY_LDT_CONTENTS_DATA, .read_exec_only = 0, .useable = 1};
  if (syscall(SYS_modify_ldt, 1, &code, sizeof code) != 0) return -1;
  if (syscall(SYS_modify_ldt, 1, &data, sizeof data) != 0) return -1;
  g_far16.offset = 0;
  g_far16.selector = (0 << 3) | 4 | 3;  // LDT entry 0, RPL 3
  g_sel16 = (1 << 3) | 4 | 3;           // LDT entry 1, RPL 3
  g_far32_16.offset = (uint32_t)(uintptr_t)tramp_entry16;
  g_far32_16.selector = 0x23;
  g_stash_lin = data_base + 0x1000;
  return 0;
}

static sigjmp_buf g_jmp;
static volatile int g_vector;

// Maps a host signal back to the CPU exception that raised it (SDM Vol. 3A Table 6-1).
static void on_fault(int sig, siginfo_t *info, void *uctx) {
  int vector = 13;
  switch (sig) {
    case SIGFPE:
      vector = (info->si_code == FPE_INTDIV || info->si_code == FPE_INTOVF) ? 0 : 19;
      break;
    case SIGILL: vector = 6; break;
    case SIGBUS: vector = 17; break;
    case SIGTRAP: vector = 3; break;
    case SIGSEGV: vector = info->si_code == SI_KERNEL ? 13 : 14; break;
    default: break;
  }
  // The state at the faulting instruction, from the signal frame: a fault must leave the
  // registers as they were before the instruction (SDM Vol. 3A §6.5).
  const ucontext_t *uc = uctx;
  static const int order[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};
  for (int i = 0; i < 16; i++) g_blk.out_gpr[i] = (uint64_t)uc->uc_mcontext.gregs[order[i]];
  g_blk.out_rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
  if (uc->uc_mcontext.fpregs) {
    memcpy(g_blk.out_xmm, uc->uc_mcontext.fpregs->_xmm, sizeof g_blk.out_xmm);
    g_blk.out_mxcsr = uc->uc_mcontext.fpregs->mxcsr;
  }
  g_vector = vector;
  siglongjmp(g_jmp, 1);
}

static void read_exact(void *buf, size_t n) {
  if (n == 0) return;
  if (fread(buf, 1, n, stdin) != n) {
    fprintf(stderr, "oracle: short read on stdin\n");
    exit(2);
  }
}

static void write_exact(const void *buf, size_t n) {
  if (n == 0) return;
  if (fwrite(buf, 1, n, stdout) != n) {
    fprintf(stderr, "oracle: short write on stdout\n");
    exit(2);
  }
}

int main(void) {
  uint32_t hdr[2];
  uint64_t data_addr;
  read_exact(hdr, sizeof hdr);
  read_exact(&data_addr, sizeof data_addr);
  if (hdr[0] != 0x46445354u) {  // "TSDF"
    fprintf(stderr, "oracle: bad magic\n");
    return 2;
  }
  uint32_t count = hdr[1];

  // The data page plus a stash page after it (used by the 16-bit return path).
  uint8_t *data = mmap((void *)(uintptr_t)data_addr, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (data == MAP_FAILED || (uintptr_t)data != data_addr) {
    fprintf(stderr, "oracle: cannot map the data page at 0x%llx\n", (unsigned long long)data_addr);
    return 3;
  }
  uint8_t *code = mmap(NULL, 2 * PAGE_SIZE + MAX_CODE, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (code == MAP_FAILED) {
    fprintf(stderr, "oracle: cannot map an RWX code page\n");
    return 3;
  }

  if ((uintptr_t)code + 2 * PAGE_SIZE + MAX_CODE > 0xffffffffu || (uintptr_t)&g_blk > 0xffffffffu) {
    fprintf(stderr, "oracle: code or state above 4 GiB (build with -no-pie)\n");
    return 3;
  }
  g_far32.offset = (uint32_t)(uintptr_t)tramp_entry32;
  g_far32.selector = 0x23;
  int ldt_ok = data_addr + 2 * PAGE_SIZE <= 0xffffffffu && setup_ldt16((uint32_t)(uintptr_t)code, (uint32_t)data_addr) == 0;

  static uint8_t altstack[1 << 16];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) return 3;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP};
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) sigaction(sigs[k], &sa, NULL);

  static uint8_t data_in[PAGE_SIZE];
  for (uint32_t n = 0; n < count; n++) {
    uint32_t h[6];
    read_exact(h, sizeof h);
    int mode32 = h[4] == 32, mode16 = h[4] == 16;
    uint32_t code_len = h[0], data_len = h[1];
    if (code_len > MAX_CODE || data_len > PAGE_SIZE) {
      fprintf(stderr, "oracle: case %u too large\n", n);
      return 2;
    }
    read_exact(g_blk.in_gpr, sizeof g_blk.in_gpr);
    read_exact(g_blk.in_xmm, sizeof g_blk.in_xmm);
    read_exact(code, code_len);
    read_exact(data_in, data_len);
    // Only the status flags, DF and the reserved bit 1: TF would trap, AC would fault on
    // unaligned accesses (Linux sets CR0.AM), IF/IOPL cannot change at CPL 3.
    g_blk.in_rflags = (h[2] & 0x0cd5u) | 0x2u;
    g_blk.in_mxcsr = h[3] & 0xffffu;
    uint8_t *tail = code + code_len;
    tail[0] = 0xff; tail[1] = 0x25;
    if (mode16) {
      // JMP FAR ptr16:32 (66 EA) to tramp_back16 in the flat 32-bit code segment.
      uint32_t back = (uint32_t)(uintptr_t)&tramp_back16;
      tail[0] = 0x66; tail[1] = 0xea;
      memcpy(tail + 2, &back, 4);
      tail[6] = 0x23; tail[7] = 0;
      memset(g_blk.out_gpr, 0, sizeof g_blk.out_gpr);
    } else if (mode32) {
      // JMP [abs32] naming the dword that follows it, which holds tramp_back32.
      uint32_t slot = (uint32_t)(uintptr_t)(tail + 6), back = (uint32_t)(uintptr_t)&tramp_back32;
      memcpy(tail + 2, &slot, 4);
      memcpy(tail + 6, &back, 4);
      memset(g_blk.out_gpr, 0, sizeof g_blk.out_gpr);
    } else {
      // JMP [RIP+0] followed by the absolute address of tramp_back.
      tail[2] = tail[3] = tail[4] = tail[5] = 0;
      uint64_t back = (uint64_t)(uintptr_t)&tramp_back;
      memcpy(tail + 6, &back, 8);
    }
    g_blk.code_ptr = (uint64_t)(uintptr_t)code;
    memset(data, 0, PAGE_SIZE);
    memcpy(data, data_in, data_len);

    g_vector = -1;
    if (sigsetjmp(g_jmp, 1) == 0) {
      if (mode16) {
        if (ldt_ok) tramp_run16(); else g_vector = 0xff;  // no 16-bit segments: reported as vector 255
      } else if (mode32) {
        tramp_run32();
      } else {
        tramp_run();
      }
    }
    uint32_t status = 0;
    if (g_vector >= 0) {
      status = STATUS_FAULT | (uint32_t)g_vector;
      uint32_t mxcsr_default = 0x1f80;
      __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr_default));
    }
    uint32_t o[2] = {status, g_blk.out_mxcsr};
    write_exact(o, sizeof o);
    write_exact(&g_blk.out_rflags, 8);
    write_exact(g_blk.out_gpr, sizeof g_blk.out_gpr);
    write_exact(g_blk.out_xmm, sizeof g_blk.out_xmm);
    write_exact(data, data_len);
  }
  fflush(stdout);
  return 0;
}
