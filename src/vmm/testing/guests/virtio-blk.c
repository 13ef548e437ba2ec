/*
 * A small guest of our own that drives virtio-blk over PCI the way a driver does (issue 4, "the KVM
 * path is wired, exercised by small guests"), so that both engines can be checked against each
 * other without booting Linux. Entered at the Linux 64-bit boot entry (long mode, identity-mapped
 * low 4 GiB, interrupts off), it
 *   - scans bus 0 through the configuration ports 0xCF8/0xCFC (PCI Local Bus 3.0 §3.2.2.3.2) for
 *     the modern virtio-blk function (1af4:1042, virtio 1.2 §4.1.2),
 *   - walks its capability list for the common, notify and device configuration structures
 *     (§4.1.4) and the MSI-X capability (PCI 3.0 §6.8.2),
 *   - initializes the device (§3.1.1) with VERSION_1 only and one split virtqueue (§2.7) whose
 *     interrupts come as MSI-X vector 0, delivered to vector 0x50 of the boot CPU's local APIC,
 *   - reads sector 0 and prints its first 16 bytes in hex, writes a known pattern to sector 1,
 *     each request waiting for its interrupt with HLT,
 * and powers off through ACPI PM1a_CNT. Every line starts with "V: " so tests can compare.
 *
 * Built at test time (c-guests.ts): gcc -ffreestanding -nostdlib, position independent and linked
 * flat, so that no absolute address of our own image is used; fixed memory for the queue and
 * buffers at 0x300000 and up, the stack below 0x380000.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define COM1 0x3f8
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define ACPI_PM1A_CNT 0x604
#define ACPI_S5_SLP_EN 0x3400 /* SLP_TYP 5 (our DSDT's \_S5) << 10 | SLP_EN */
#define LAPIC 0xfee00000ULL
#define LAPIC_SVR 0xf0
#define IRQ_VECTOR 0x50

#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* Common configuration (§4.1.4.3). */
#define C_DFSELECT 0x00
#define C_DF 0x04
#define C_GFSELECT 0x08
#define C_GF 0x0c
#define C_MSIX 0x10
#define C_STATUS 0x14
#define C_Q_SELECT 0x16
#define C_Q_SIZE 0x18
#define C_Q_MSIX 0x1a
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF 0x1e
#define C_Q_DESCLO 0x20
#define C_Q_DESCHI 0x24
#define C_Q_AVAILLO 0x28
#define C_Q_AVAILHI 0x2c
#define C_Q_USEDLO 0x30
#define C_Q_USEDHI 0x34

#define S_ACKNOWLEDGE 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define VIRTIO_MSI_NO_VECTOR 0xffff

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1

#define QSIZE 8
/* Fixed guest-physical memory (identity-mapped). */
#define Q_DESC 0x300000ULL
#define Q_AVAIL 0x300800ULL
#define Q_USED 0x301000ULL
#define REQ_HDR 0x302000ULL
#define REQ_DATA 0x303000ULL
#define REQ_STATUS 0x304000ULL
#define IDT_BASE 0x305000ULL

struct virtq_desc { u64 addr; u32 len; u16 flags; u16 next; };
struct blk_req_hdr { u32 type; u32 reserved; u64 sector; };

/* Entry: a stack, then main; the interrupt handler counts, signals EOI and returns. */
__asm__(
    ".section .text.entry, \"ax\"\n"
    ".globl _start\n"
    "_start:\n"
    "  cli\n"
    "  mov $0x380000, %esp\n"
    "  call guest_main\n"
    "1: cli\n"
    "  hlt\n"
    "  jmp 1b\n"
    ".globl irq_entry\n"
    "irq_entry:\n"
    "  push %rax\n"
    "  lock incl irq_count(%rip)\n"
    "  mov $0xfee000b0, %eax\n" /* LAPIC EOI */
    "  movl $0, (%rax)\n"
    "  pop %rax\n"
    "  iretq\n"
    ".text\n");

extern void irq_entry(void) __attribute__((visibility("hidden")));
volatile u32 irq_count __attribute__((visibility("hidden")));

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline u8 rd8(u64 a) { return *(volatile u8 *)a; }
static inline u16 rd16(u64 a) { return *(volatile u16 *)a; }
static inline u32 rd32(u64 a) { return *(volatile u32 *)a; }
static inline void wr8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline void wr16(u64 a, u16 v) { *(volatile u16 *)a = v; }
static inline void wr32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline void barrier(void) { __asm__ volatile("mfence" ::: "memory"); }

static void putc_(char c) { outb(COM1, (u8)c); }
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void puthex(u64 v, int digits) {
  for (int i = digits - 1; i >= 0; i--) putc_("0123456789abcdef"[(v >> (i * 4)) & 0xf]);
}

static void poweroff(void) {
  outw(ACPI_PM1A_CNT, ACPI_S5_SLP_EN);
  for (;;) __asm__ volatile("cli; hlt");
}

static void fail(const char *why) {
  puts_("V: FAIL ");
  puts_(why);
  putc_('\n');
  poweroff();
}

static u32 cfg_read32(u32 dev, u32 off) {
  outl(PCI_CONFIG_ADDRESS, 0x80000000u | (dev << 11) | (off & 0xfc));
  return inl(PCI_CONFIG_DATA);
}
static void cfg_write32(u32 dev, u32 off, u32 v) {
  outl(PCI_CONFIG_ADDRESS, 0x80000000u | (dev << 11) | (off & 0xfc));
  outl(PCI_CONFIG_DATA, v);
}
static u8 cfg_read8(u32 dev, u32 off) { return (u8)(cfg_read32(dev, off) >> ((off & 3) * 8)); }
static u16 cfg_read16(u32 dev, u32 off) { return (u16)(cfg_read32(dev, off) >> ((off & 2) * 8)); }

static u64 bar_address(u32 dev, u32 bar) {
  u32 lo = cfg_read32(dev, 0x10 + bar * 4);
  u64 a = lo & ~0xfu;
  if ((lo & 6) == 4) a |= (u64)cfg_read32(dev, 0x14 + bar * 4) << 32; /* 64-bit BAR */
  return a;
}

static void set_idt_gate(u32 vector, void (*fn)(void)) {
  u64 a = (u64)fn;
  u16 cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  u64 e = IDT_BASE + vector * 16;
  wr16(e, (u16)a);
  wr16(e + 2, cs);
  wr16(e + 4, 0x8e00); /* present, DPL 0, 64-bit interrupt gate */
  wr16(e + 6, (u16)(a >> 16));
  wr32(e + 8, (u32)(a >> 32));
  wr32(e + 12, 0);
}

static u64 common, notify_base, device_cfg;
static u32 notify_mult;
static u16 avail_idx, used_seen;

/* One request: header (device reads), data (device writes for IN, reads for OUT), status (device writes). */
static u8 blk_request(u32 type, u64 sector) {
  volatile struct blk_req_hdr *h = (volatile struct blk_req_hdr *)REQ_HDR;
  volatile struct virtq_desc *d = (volatile struct virtq_desc *)Q_DESC;
  h->type = type;
  h->reserved = 0;
  h->sector = sector;
  wr8(REQ_STATUS, 0xff);
  d[0].addr = REQ_HDR; d[0].len = sizeof(struct blk_req_hdr); d[0].flags = VIRTQ_DESC_F_NEXT; d[0].next = 1;
  d[1].addr = REQ_DATA; d[1].len = 512; d[1].flags = VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0); d[1].next = 2;
  d[2].addr = REQ_STATUS; d[2].len = 1; d[2].flags = VIRTQ_DESC_F_WRITE; d[2].next = 0;
  /* avail ring: flags u16, idx u16, ring[QSIZE] u16 (§2.7.6) */
  wr16(Q_AVAIL + 4 + (avail_idx % QSIZE) * 2, 0);
  barrier();
  avail_idx++;
  wr16(Q_AVAIL + 2, avail_idx);
  barrier();
  u32 irqs_before = irq_count;
  wr16(notify_base, 0); /* queue 0 */
  /* Sleep until the used ring moves; STI's shadow covers HLT, so the interrupt cannot slip in between. */
  while (rd16(Q_USED + 2) == used_seen) __asm__ volatile("sti; hlt; cli" ::: "memory");
  /* The used ring moved: its interrupt may still be on its way; wait for it so the count is exact. */
  while (irq_count == irqs_before) __asm__ volatile("sti; hlt; cli" ::: "memory");
  used_seen++;
  u32 id = rd32(Q_USED + 4 + ((used_seen - 1) % QSIZE) * 8);
  if (id != 0) fail("used id");
  return rd8(REQ_STATUS);
}

void guest_main(void) __attribute__((used, visibility("hidden")));
void guest_main(void) {
  outb(0x21, 0xff); /* mask both 8259s: LINT0 is in virtual-wire mode under KVM */
  outb(0xa1, 0xff);
  puts_("V: start\n");

  u32 dev = 32;
  for (u32 d = 0; d < 32; d++) {
    if (cfg_read32(d, 0) == 0x10421af4u) { dev = d; break; }
  }
  if (dev == 32) fail("no virtio-blk");
  puts_("V: blk at 00:");
  puthex(dev, 2);
  puts_(".0\n");

  /* Capabilities (§4.1.4): cap_vndr, cap_next, cap_len, cfg_type, bar, id, pad[2], offset, length. */
  if (!(cfg_read16(dev, 0x06) & PCI_STATUS_CAP_LIST)) fail("no capabilities");
  u32 msix_cap = 0;
  for (u32 cap = cfg_read8(dev, 0x34) & 0xfc, n = 0; cap != 0 && n < 48; cap = cfg_read8(dev, cap + 1) & 0xfc, n++) {
    u8 id = cfg_read8(dev, cap);
    if (id == PCI_CAP_ID_MSIX) { msix_cap = cap; continue; }
    if (id != PCI_CAP_ID_VNDR) continue;
    u8 type = cfg_read8(dev, cap + 3);
    u64 base = bar_address(dev, cfg_read8(dev, cap + 4)) + cfg_read32(dev, cap + 8);
    if (type == VIRTIO_PCI_CAP_COMMON_CFG && common == 0) common = base;
    else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && notify_base == 0) { notify_base = base; notify_mult = cfg_read32(dev, cap + 16); }
    else if (type == VIRTIO_PCI_CAP_DEVICE_CFG && device_cfg == 0) device_cfg = base;
  }
  if (common == 0 || notify_base == 0 || device_cfg == 0 || msix_cap == 0) fail("missing capability");
  /* Memory decoding and bus mastering (the device reads and writes our memory). */
  cfg_write32(dev, 0x04, (cfg_read32(dev, 0x04) & 0xffff) | 0x6);

  /* Interrupts: IDT, the local APIC software-enabled, MSI-X vector 0 to APIC 0 vector IRQ_VECTOR. */
  for (u32 i = 0; i < 256 * 16; i += 4) wr32(IDT_BASE + i, 0);
  set_idt_gate(IRQ_VECTOR, irq_entry);
  struct { u16 limit; u64 base; } __attribute__((packed)) idtr = { 256 * 16 - 1, IDT_BASE };
  __asm__ volatile("lidt %0" : : "m"(idtr));
  wr32(LAPIC + LAPIC_SVR, 0x1ff);
  u32 table = cfg_read32(dev, msix_cap + 4);
  u64 entry0 = bar_address(dev, table & 7) + (table & ~7u);
  wr32(entry0 + 0, 0xfee00000u); /* message address: APIC ID 0, physical destination */
  wr32(entry0 + 4, 0);
  wr32(entry0 + 8, IRQ_VECTOR); /* fixed delivery, edge */
  wr32(entry0 + 12, 0); /* unmasked */
  u32 ctl = cfg_read32(dev, msix_cap);
  cfg_write32(dev, msix_cap, (ctl & 0x3fffffffu) | 0x80000000u); /* MSI-X enable, function mask off */

  /* Initialization (§3.1.1). */
  wr8(common + C_STATUS, 0);
  while (rd8(common + C_STATUS) != 0) {}
  wr8(common + C_STATUS, S_ACKNOWLEDGE);
  wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER);
  wr32(common + C_DFSELECT, 1);
  if (!(rd32(common + C_DF) & 1)) fail("no VIRTIO_F_VERSION_1");
  wr32(common + C_GFSELECT, 0);
  wr32(common + C_GF, 0);
  wr32(common + C_GFSELECT, 1);
  wr32(common + C_GF, 1); /* VIRTIO_F_VERSION_1 only */
  wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
  if (!(rd8(common + C_STATUS) & S_FEATURES_OK)) fail("features refused");
  wr16(common + C_MSIX, VIRTIO_MSI_NO_VECTOR);

  wr16(common + C_Q_SELECT, 0);
  u16 max = rd16(common + C_Q_SIZE);
  if (max < QSIZE) fail("queue too small");
  wr16(common + C_Q_SIZE, QSIZE);
  for (u64 a = Q_DESC; a < Q_USED + 0x1000; a += 4) wr32(a, 0);
  wr32(common + C_Q_DESCLO, (u32)Q_DESC); wr32(common + C_Q_DESCHI, 0);
  wr32(common + C_Q_AVAILLO, (u32)Q_AVAIL); wr32(common + C_Q_AVAILHI, 0);
  wr32(common + C_Q_USEDLO, (u32)Q_USED); wr32(common + C_Q_USEDHI, 0);
  wr16(common + C_Q_MSIX, 0);
  if (rd16(common + C_Q_MSIX) != 0) fail("queue vector refused");
  notify_base += (u64)rd16(common + C_Q_NOFF) * notify_mult;
  wr16(common + C_Q_ENABLE, 1);
  wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);

  u32 cap_lo = rd32(device_cfg), cap_hi = rd32(device_cfg + 4);
  puts_("V: capacity ");
  puthex(((u64)cap_hi << 32) | cap_lo, 8);
  puts_(" sectors\n");

  u8 st = blk_request(VIRTIO_BLK_T_IN, 0);
  puts_("V: read sector 0 status ");
  puthex(st, 2);
  puts_(" data");
  for (u32 i = 0; i < 16; i++) { putc_(' '); puthex(rd8(REQ_DATA + i), 2); }
  putc_('\n');

  const char *msg = "tshv virtio-blk guest wrote sector 1\n";
  u32 n = 0;
  for (; msg[n] != 0; n++) wr8(REQ_DATA + n, (u8)msg[n]);
  for (u32 i = n; i < 512; i++) wr8(REQ_DATA + i, (u8)i);
  st = blk_request(VIRTIO_BLK_T_OUT, 1);
  puts_("V: write sector 1 status ");
  puthex(st, 2);
  putc_('\n');

  puts_("V: interrupts ");
  puthex(irq_count, 2);
  puts_("\nV: done\n");
  poweroff();
}
