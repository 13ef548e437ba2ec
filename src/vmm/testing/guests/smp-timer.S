/*
 * A small guest of our own that both engines run (issue 3, "small guests"): entered at the Linux
 * 64-bit boot entry (loadLinux puts vCPU 0 there in long mode), it exercises
 *   - serial output and PIO exits (COM1 THR and scratch register),
 *   - an MMIO exit (an unassigned physical address reads all ones),
 *   - interrupts through the interrupt controllers: the BSP's LAPIC timer (one-shot), and the PIT
 *     through IOAPIC pin 2 (the MADT's ISA IRQ 0 override), each waking the CPU from HLT,
 *   - several vCPUs: INIT-SIPI to each AP (CMOS 0x5f says how many); an AP runs a trampoline at
 *     0x8000 from real mode through 32-bit protected mode into long mode (SDM Vol. 3A §9.8.5),
 *     then reports its APIC ID,
 * and powers off through ACPI PM1a_CNT. The output is the same on every engine; the tests compare.
 *
 * Position independent (RIP-relative), assembled with `as` and linked flat (`ld --oformat binary`)
 * at test time. Fixed low memory: IDT at 0x60000, variables at 0x61000, BSP stack below 0x58000,
 * AP stacks at 0x40000 + APIC ID * 0x1000, trampoline at 0x8000; the identity page tables the
 * loader wrote at 0x9000 (PML4) are reused by the APs.
 */

        .set COM1, 0x3f8
        .set IDT_BASE, 0x60000
        .set IDT_PTR, 0x61100
        .set TICKS, 0x61000
        .set PIT_TICKS, 0x61004
        .set AP_FLAG, 0x61008
        .set LAPIC, 0xfee00000
        .set IOAPIC, 0xfec00000
        .set TRAMP, 0x8000
        .set UNASSIGNED_MMIO, 0xd0000000

        .text
        .code64
        .globl _start
_start:
        cli
        mov $0x58000, %esp
        /* Mask both 8259s: under KVM the BSP's LINT0 is in virtual-wire (ExtINT) mode. */
        mov $0xff, %al
        out %al, $0x21
        out %al, $0xa1
        lea msg_start(%rip), %rsi
        call puts

        /* PIO: the UART scratch register keeps what we write. */
        mov $COM1 + 7, %dx
        mov $0x5a, %al
        out %al, %dx
        xor %eax, %eax
        in %dx, %al
        lea msg_scratch(%rip), %rsi
        call puts
        mov $2, %r8d
        call puthex
        call newline

        /* MMIO: nothing at UNASSIGNED_MMIO; writes are dropped, reads give all ones. */
        mov $UNASSIGNED_MMIO, %ebx
        movl $0x12345678, (%rbx)
        mov (%rbx), %eax
        lea msg_mmio(%rip), %rsi
        call puts
        mov $8, %r8d
        call puthex
        call newline

        /* IDT: vector 0x40 LAPIC timer, 0x41 PIT, 0xff spurious. */
        mov $IDT_BASE, %edi
        mov $4096, %ecx
        xor %eax, %eax
        rep stosb
        mov $0x40, %edi
        lea lapic_isr(%rip), %rax
        call set_gate
        mov $0x41, %edi
        lea pit_isr(%rip), %rax
        call set_gate
        mov $0xff, %edi
        lea spurious_isr(%rip), %rax
        call set_gate
        movw $0xfff, IDT_PTR
        movq $IDT_BASE, IDT_PTR + 2
        lidt IDT_PTR
        movl $0, TICKS
        movl $0, PIT_TICKS

        /* LAPIC timer: software enable, LINT0 masked, divide by 1, three one-shots. */
        mov $LAPIC, %ebx
        movl $0x1ff, 0xf0(%rbx)
        movl $0x10000, 0x350(%rbx)
        movl $0xb, 0x3e0(%rbx)
        mov $1, %r12d
1:      movl $0x40, 0x320(%rbx)
        movl $200000, 0x380(%rbx)
2:      cmpl %r12d, TICKS
        jae 3f
        sti
        hlt
        cli
        jmp 2b
3:      lea msg_tick(%rip), %rsi
        call puts
        mov %r12d, %eax
        mov $1, %r8d
        call puthex
        call newline
        inc %r12d
        cmp $3, %r12d
        jbe 1b

        /* PIT channel 0, mode 2, ~1 ms, through IOAPIC pin 2 to vector 0x41 on APIC 0. */
        mov $IOAPIC, %ebx
        movl $0x15, (%rbx)
        movl $0, 0x10(%rbx)
        movl $0x14, (%rbx)
        movl $0x41, 0x10(%rbx)
        mov $0x34, %al
        out %al, $0x43
        mov $0xa9, %al
        out %al, $0x40
        mov $0x04, %al
        out %al, $0x40
4:      cmpl $3, PIT_TICKS
        jae 5f
        sti
        hlt
        cli
        jmp 4b
5:      movl $0x14, (%rbx)
        movl $0x10041, 0x10(%rbx)
        lea msg_pit(%rip), %rsi
        call puts

        /* Application processors, one at a time, in APIC ID order. */
        mov $0x5f, %al
        out %al, $0x70
        in $0x71, %al
        movzbl %al, %r12d
        lea tramp_start(%rip), %rsi
        mov $TRAMP, %edi
        mov $(tramp_end - tramp_start), %ecx
        rep movsb
        lea ap_main(%rip), %rax
        mov %rax, TRAMP + (tramp_target - tramp_start)
        mov $1, %r13d
6:      cmp %r12d, %r13d
        ja 9f
        movl $0, AP_FLAG
        mov $LAPIC, %ebx
        mov %r13d, %eax
        shl $24, %eax
        mov %eax, 0x310(%rbx)
        movl $0x4500, 0x300(%rbx)       /* INIT */
        call wait_icr
        mov %eax, 0x310(%rbx)
        movl $0x4600 + (TRAMP >> 12), 0x300(%rbx)   /* STARTUP, vector 8: CS:IP = 0800:0000 */
        call wait_icr
        mov $50000000, %ecx
7:      cmp %r13d, AP_FLAG
        je 8f
        pause
        dec %ecx
        jnz 7b
        lea msg_ap_timeout(%rip), %rsi
        call puts
        jmp 9f
8:      inc %r13d
        jmp 6b
9:      lea msg_cpus(%rip), %rsi
        call puts
        lea 1(%r12), %eax
        mov $2, %r8d
        call puthex
        call newline

        lea msg_done(%rip), %rsi
        call puts
        mov $0x604, %dx
        mov $0x3400, %ax
        out %ax, %dx
10:     hlt
        jmp 10b

/* rdi = vector, rax = handler: a 64-bit interrupt gate, DPL 0, current CS. */
set_gate:
        mov %rdi, %rdx
        shl $4, %rdx
        add $IDT_BASE, %rdx
        mov %ax, (%rdx)
        mov %cs, %cx
        mov %cx, 2(%rdx)
        movw $0x8e00, 4(%rdx)
        mov %rax, %rcx
        shr $16, %rcx
        mov %cx, 6(%rdx)
        shr $32, %rax
        mov %eax, 8(%rdx)
        movl $0, 12(%rdx)
        ret

wait_icr:
        testl $0x1000, 0x300(%rbx)
        jz 1f
        pause
        jmp wait_icr
1:      ret

lapic_isr:
        push %rbx
        incl TICKS
        mov $LAPIC, %ebx
        movl $0, 0xb0(%rbx)
        pop %rbx
        iretq

pit_isr:
        push %rbx
        incl PIT_TICKS
        mov $LAPIC, %ebx
        movl $0, 0xb0(%rbx)
        pop %rbx
        iretq

spurious_isr:
        iretq

/* rsi = NUL-terminated string. */
puts:
        push %rax
        push %rdx
        push %rsi
        mov $COM1, %dx
1:      lodsb
        test %al, %al
        jz 2f
        out %al, %dx
        jmp 1b
2:      pop %rsi
        pop %rdx
        pop %rax
        ret

newline:
        push %rsi
        lea msg_nl(%rip), %rsi
        call puts
        pop %rsi
        ret

/* eax = value, r8d = hex digits. */
puthex:
        push %rax
        push %rcx
        push %rdx
        push %r8
        push %r9
        mov %eax, %r9d
        mov $COM1, %dx
1:      dec %r8d
        js 2f
        lea 0(,%r8,4), %ecx
        mov %r9d, %eax
        shr %cl, %eax
        and $0xf, %eax
        cmp $10, %al
        jb 3f
        add $('a' - '0' - 10), %al
3:      add $'0', %al
        out %al, %dx
        jmp 1b
2:      pop %r9
        pop %r8
        pop %rdx
        pop %rcx
        pop %rax
        ret

/* An AP in long mode, on its own stack. */
ap_main:
        mov $LAPIC + 0x20, %ebx
        mov (%rbx), %eax
        shr $24, %eax
        mov %eax, %r12d
        lea msg_ap(%rip), %rsi
        call puts
        mov $2, %r8d
        call puthex
        lea msg_up(%rip), %rsi
        call puts
        mov %r12d, AP_FLAG
1:      cli
        hlt
        jmp 1b

/* Copied to TRAMP; the SIPI starts it in real mode at 0800:0000. */
        .code16
tramp_start:
        cli
        mov %cs, %ax
        mov %ax, %ds
        lgdtl (tgdt_ptr - tramp_start)
        mov %cr0, %eax
        or $1, %eax
        mov %eax, %cr0
        ljmpl $0x18, $(TRAMP + tramp32 - tramp_start)
        .code32
tramp32:
        mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov %cr4, %eax
        or $0x20, %eax                  /* PAE */
        mov %eax, %cr4
        mov $0x9000, %eax               /* the loader's identity-mapping PML4 */
        mov %eax, %cr3
        mov $0xc0000080, %ecx           /* EFER.LME */
        rdmsr
        or $0x100, %eax
        wrmsr
        mov %cr0, %eax
        or $0x80000000, %eax            /* PG: long mode becomes active */
        mov %eax, %cr0
        ljmp $0x08, $(TRAMP + tramp64 - tramp_start)
        .code64
tramp64:
        mov $LAPIC + 0x20, %ebx
        mov (%rbx), %eax
        shr $24, %eax
        shl $12, %eax
        add $0x41000, %eax
        mov %eax, %esp
        jmp *(TRAMP + tramp_target - tramp_start)
        .p2align 3
tgdt:
        .quad 0
        .quad 0x00af9b000000ffff        /* 0x08: 64-bit code */
        .quad 0x00cf93000000ffff        /* 0x10: flat data */
        .quad 0x00cf9b000000ffff        /* 0x18: 32-bit code */
tgdt_ptr:
        .word tgdt_ptr - tgdt - 1
        .long TRAMP + tgdt - tramp_start
        .p2align 3
tramp_target:
        .quad 0
tramp_end:

msg_start:      .asciz "G: start\n"
msg_scratch:    .asciz "G: scratch "
msg_mmio:       .asciz "G: mmio "
msg_tick:       .asciz "G: lapic tick "
msg_pit:        .asciz "G: pit ticks 3\n"
msg_ap:         .asciz "G: ap "
msg_up:         .asciz " up\n"
msg_ap_timeout: .asciz "G: ap timeout\n"
msg_cpus:       .asciz "G: cpus "
msg_done:       .asciz "G: done\n"
msg_nl:         .asciz "\n"
