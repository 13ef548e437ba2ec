// The 8259A programmable interrupt controller pair of the PC/AT: master at 0x20/0x21, slave at
// 0xA0/0xA1 cascaded into the master's IR2, and the EISA edge/level control registers (ELCR) at
// 0x4D0/0x4D1. Behaviour follows the Intel 8259A datasheet (ICW1-4, OCW1-3) and the PIIX/ICH
// ELCR description; Linux drives it from arch/x86/kernel/i8259.c (init_8259A, mask/EOI paths).

import type { IrqLine, Persistable, PioDevice } from '../../device.js';
import type { I8259ChipState, PicState } from './persist.js';

/** ICW1 (written to the command port with bit 4 set): bit 0 IC4, bit 1 SNGL, bit 3 LTIM. */
const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1_INIT = 0x10;
/** ICW4: bit 1 AEOI, bit 4 SFNM. */
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;
/** OCW3: bit 3 set, bit 4 clear identifies it; bit 2 poll, bits 1-0 read register, bits 6-5 special mask. */
const OCW3_SELECT = 0x08;
const OCW3_POLL = 0x04;
const OCW3_RR = 0x02;
const OCW3_RIS = 0x01;
const OCW3_ESMM = 0x40;
const OCW3_SMM = 0x20;
/** Edge/level control: IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge (PIIX4 ELCR). */
const ELCR_MASTER_MASK = 0xf8;
const ELCR_SLAVE_MASK = 0xde;
/** The master input the slave's INT is wired to. */
const CASCADE_IRQ = 2;

/** One 8259A. The pair wrapper handles cascading. */
class I8259Chip {
  irr = 0;
  isr = 0;
  imr = 0;
  lineLevels = 0;
  elcr = 0;
  vectorBase = 0;
  priorityAdd = 0;
  initStep = 0;
  icw4Needed = false;
  singleMode = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  readIsr = false;
  pollPending = false;
  specialMask = false;
  specialFullyNested = false;

  constructor(readonly elcrMask: number) {}

  reset(): void {
    this.irr = 0;
    this.isr = 0;
    this.imr = 0;
    this.lineLevels = 0;
    this.elcr = 0;
    this.vectorBase = 0;
    this.priorityAdd = 0;
    this.initStep = 0;
    this.icw4Needed = false;
    this.singleMode = false;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.readIsr = false;
    this.pollPending = false;
    this.specialMask = false;
    this.specialFullyNested = false;
  }

  /** Drives input `irq` (0..7). Edge inputs latch IRR on a rising edge; level inputs follow the line. */
  setInput(irq: number, level: boolean): void {
    const bit = 1 << irq;
    if (this.elcr & bit) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && (this.lineLevels & bit) === 0) {
      this.irr |= bit;
    }
    if (level) this.lineLevels |= bit;
    else this.lineLevels &= ~bit;
  }

  /** Highest-priority bit set in `mask` counted from priorityAdd, as a priority 0..7; 8 if none. */
  private priorityOf(mask: number): number {
    if (mask === 0) return 8;
    for (let p = 0; p < 8; p++) {
      if (mask & (1 << ((p + this.priorityAdd) & 7))) return p;
    }
    return 8;
  }

  /** The IRQ this chip would request now (IRR not masked, above anything in service), or -1. */
  pendingIrq(): number {
    const requested = this.irr & ~this.imr;
    const p = this.priorityOf(requested);
    if (p === 8) return -1;
    // In special mask mode, masked in-service levels do not block lower priorities (8259A OCW3).
    let inService = this.specialMask ? this.isr & ~this.imr : this.isr;
    // In special fully nested mode the master lets the slave interrupt again while IR2 is in
    // service, so a higher-priority slave request is not blocked (8259A ICW4 SFNM).
    if (this.specialFullyNested) inService &= ~(1 << CASCADE_IRQ);
    const ps = this.priorityOf(inService);
    if (p >= ps) return -1;
    return (p + this.priorityAdd) & 7;
  }

  /** INTA for `irq`: IRR → ISR (or auto-EOI), edge IRR bit consumed. */
  ack(irq: number): void {
    const bit = 1 << irq;
    if ((this.elcr & bit) === 0) this.irr &= ~bit;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else {
      this.isr |= bit;
    }
  }

  /** The highest-priority in-service IRQ, or -1. */
  private highestInService(): number {
    const p = this.priorityOf(this.isr);
    return p === 8 ? -1 : (p + this.priorityAdd) & 7;
  }

  writeCommand(value: number): void {
    if (value & ICW1_INIT) {
      // ICW1 starts initialisation: IMR cleared, edge sense reset, IR7 gets lowest priority,
      // special mask off, status read set to IRR (8259A datasheet "Initialization Command Words").
      this.isr = 0;
      this.imr = 0;
      this.irr &= this.elcr;
      this.lineLevels &= this.elcr;
      this.priorityAdd = 0;
      this.readIsr = false;
      this.pollPending = false;
      this.specialMask = false;
      this.autoEoi = false;
      this.rotateOnAutoEoi = false;
      this.specialFullyNested = false;
      this.icw4Needed = (value & ICW1_IC4) !== 0;
      this.singleMode = (value & ICW1_SNGL) !== 0;
      this.initStep = 2;
      return;
    }
    if (value & OCW3_SELECT) {
      if (value & OCW3_POLL) this.pollPending = true;
      if (value & OCW3_RR) this.readIsr = (value & OCW3_RIS) !== 0;
      if (value & OCW3_ESMM) this.specialMask = (value & OCW3_SMM) !== 0;
      return;
    }
    // OCW2: bits 7-5 = R, SL, EOI; bits 2-0 = level.
    const level = value & 7;
    switch (value >> 5) {
      case 0b001: // non-specific EOI
      case 0b101: {
        // non-specific EOI, with rotation
        const irq = this.highestInService();
        if (irq >= 0) {
          this.isr &= ~(1 << irq);
          if (value >> 5 === 0b101) this.priorityAdd = (irq + 1) & 7;
        }
        break;
      }
      case 0b011: // specific EOI
        this.isr &= ~(1 << level);
        break;
      case 0b111: // rotate on specific EOI
        this.isr &= ~(1 << level);
        this.priorityAdd = (level + 1) & 7;
        break;
      case 0b110: // set priority: `level` becomes the lowest
        this.priorityAdd = (level + 1) & 7;
        break;
      case 0b100: // set rotate in automatic EOI mode
        this.rotateOnAutoEoi = true;
        break;
      case 0b000: // clear rotate in automatic EOI mode
        this.rotateOnAutoEoi = false;
        break;
      default: // 0b010: no operation
        break;
    }
  }

  writeData(value: number): void {
    switch (this.initStep) {
      case 2: // ICW2: vector base, low 3 bits ignored in 8086 mode
        this.vectorBase = value & 0xf8;
        this.initStep = this.singleMode ? (this.icw4Needed ? 4 : 0) : 3;
        return;
      case 3: // ICW3: cascade wiring, fixed by the board, so only the sequence matters
        this.initStep = this.icw4Needed ? 4 : 0;
        return;
      case 4:
        this.autoEoi = (value & ICW4_AEOI) !== 0;
        this.specialFullyNested = (value & ICW4_SFNM) !== 0;
        this.initStep = 0;
        return;
      default: // OCW1
        this.imr = value & 0xff;
    }
  }

  readCommand(): number {
    return this.readIsr ? this.isr : this.irr;
  }

  save(): I8259ChipState {
    return {
      irr: this.irr,
      isr: this.isr,
      imr: this.imr,
      lineLevels: this.lineLevels,
      elcr: this.elcr,
      vectorBase: this.vectorBase,
      priorityAdd: this.priorityAdd,
      initStep: this.initStep,
      icw4Needed: this.icw4Needed,
      singleMode: this.singleMode,
      autoEoi: this.autoEoi,
      rotateOnAutoEoi: this.rotateOnAutoEoi,
      readIsr: this.readIsr,
      pollPending: this.pollPending,
      specialMask: this.specialMask,
      specialFullyNested: this.specialFullyNested,
    };
  }

  restore(s: I8259ChipState): void {
    this.irr = s.irr & 0xff;
    this.isr = s.isr & 0xff;
    this.imr = s.imr & 0xff;
    this.lineLevels = s.lineLevels & 0xff;
    this.elcr = s.elcr & this.elcrMask;
    this.vectorBase = s.vectorBase & 0xf8;
    this.priorityAdd = s.priorityAdd & 7;
    this.initStep = s.initStep;
    this.icw4Needed = s.icw4Needed;
    this.singleMode = s.singleMode;
    this.autoEoi = s.autoEoi;
    this.rotateOnAutoEoi = s.rotateOnAutoEoi;
    this.readIsr = s.readIsr;
    this.pollPending = s.pollPending;
    this.specialMask = s.specialMask;
    this.specialFullyNested = s.specialFullyNested;
  }
}

export interface PicConfig {
  /** Called when the master's INT output (the CPU's INTR / LAPIC LINT0) changes level. */
  onIntrChange?: (level: boolean) => void;
}

/** The cascaded 8259A pair. IRQs 0-7 on the master, 8-15 on the slave. */
export class Pic implements Persistable<PicState> {
  private readonly master = new I8259Chip(ELCR_MASTER_MASK);
  private readonly slave = new I8259Chip(ELCR_SLAVE_MASK);
  private intr = false;
  private onIntrChange: ((level: boolean) => void) | undefined;

  /** Port views for the buses: register at PIC_MASTER_PORT, PIC_SLAVE_PORT (2 ports each) and PIC_ELCR_PORT (2). */
  readonly masterPio: PioDevice;
  readonly slavePio: PioDevice;
  readonly elcrPio: PioDevice;

  constructor(config: PicConfig = {}) {
    this.onIntrChange = config.onIntrChange;
    this.masterPio = {
      pioRead: (offset) => this.readPort(this.master, offset),
      pioWrite: (offset, _size, value) => this.writePort(this.master, offset, value & 0xff),
    };
    this.slavePio = {
      pioRead: (offset) => this.readPort(this.slave, offset),
      pioWrite: (offset, _size, value) => this.writePort(this.slave, offset, value & 0xff),
    };
    this.elcrPio = {
      pioRead: (offset, size) => {
        if (size === 2 && offset === 0) return this.master.elcr | (this.slave.elcr << 8);
        return offset === 0 ? this.master.elcr : this.slave.elcr;
      },
      pioWrite: (offset, size, value) => {
        if (size === 2 && offset === 0) {
          this.writeElcr(this.master, value & 0xff);
          this.writeElcr(this.slave, (value >> 8) & 0xff);
        } else {
          this.writeElcr(offset === 0 ? this.master : this.slave, value & 0xff);
        }
        this.update();
      },
    };
  }

  /**
   * Connects the INT output to `line` (the BSP's LAPIC LINT0), replacing any `onIntrChange`,
   * and drives it to the current level. Lets the machine wire PIC and LAPIC in either order.
   */
  connectIntr(line: IrqLine): void {
    this.onIntrChange = (level) => line.set(level);
    line.set(this.intr);
  }

  /** Drives ISA IRQ `irq` (0..15). IRQ 2 is the cascade input and is ignored. */
  setIrq(irq: number, level: boolean): void {
    if (irq < 8) {
      if (irq === CASCADE_IRQ) return;
      this.master.setInput(irq, level);
    } else {
      this.slave.setInput(irq - 8, level);
    }
    this.update();
  }

  /** An IrqLine for ISA IRQ `irq`. */
  line(irq: number): IrqLine {
    return { set: (level) => this.setIrq(irq, level) };
  }

  /** The master's INT output: an interrupt is requested of the CPU. */
  hasInterrupt(): boolean {
    return this.intr;
  }

  /**
   * The INTA cycle: returns the vector of the highest-priority request and moves it in service.
   * With nothing requested this is a spurious interrupt: IR7 of the chip asked (vector base + 7)
   * with no ISR bit set, as the 8259A datasheet describes.
   */
  acknowledge(): number {
    const irq = this.master.pendingIrq();
    let vector: number;
    if (irq < 0) {
      vector = this.master.vectorBase + 7;
    } else if (irq === CASCADE_IRQ && !this.master.singleMode) {
      this.master.ack(irq);
      const slaveIrq = this.slave.pendingIrq();
      if (slaveIrq < 0) {
        vector = this.slave.vectorBase + 7;
      } else {
        this.slave.ack(slaveIrq);
        vector = this.slave.vectorBase + slaveIrq;
      }
    } else {
      this.master.ack(irq);
      vector = this.master.vectorBase + irq;
    }
    this.update();
    return vector;
  }

  private writeElcr(chip: I8259Chip, value: number): void {
    chip.elcr = value & chip.elcrMask;
    // A pin switched to level takes the line's current level; to edge keeps what was latched.
    chip.irr = (chip.irr & ~chip.elcr) | (chip.lineLevels & chip.elcr);
  }

  private readPort(chip: I8259Chip, offset: number): number {
    if (chip.pollPending) {
      // Poll mode (OCW3 P): the read is the interrupt acknowledge; bit 7 = request present.
      chip.pollPending = false;
      return this.poll(chip);
    }
    return offset === 0 ? chip.readCommand() : chip.imr;
  }

  private poll(chip: I8259Chip): number {
    if (chip === this.slave) {
      const irq = this.slave.pendingIrq();
      if (irq < 0) return 0;
      this.slave.ack(irq);
      // The master saw this request on IR2; a polled slave takes it off there as well.
      this.master.irr &= ~(1 << CASCADE_IRQ);
      this.update();
      return 0x80 | irq;
    }
    const irq = this.master.pendingIrq();
    if (irq < 0) return 0;
    this.master.ack(irq);
    this.update();
    return 0x80 | irq;
  }

  private writePort(chip: I8259Chip, offset: number, value: number): void {
    if (offset === 0) chip.writeCommand(value);
    else chip.writeData(value);
    this.update();
  }

  /** Propagates the slave's INT into master IR2 and recomputes the master's INT output. */
  private update(): void {
    // The cascade is modelled as a level input: the master's IR2 request follows the slave's INT.
    if (this.slave.pendingIrq() >= 0) this.master.irr |= 1 << CASCADE_IRQ;
    else this.master.irr &= ~(1 << CASCADE_IRQ);
    const intr = this.master.pendingIrq() >= 0;
    if (intr !== this.intr) {
      this.intr = intr;
      this.onIntrChange?.(intr);
    }
  }

  save(): PicState {
    return { version: 1, master: this.master.save(), slave: this.slave.save() };
  }

  restore(state: PicState): void {
    if (state.version !== 1) throw new Error(`Cannot restore the 8259 PIC: state version ${String(state.version)} is not supported`);
    this.master.restore(state.master);
    this.slave.restore(state.slave);
    this.update();
  }

  /** IMR of both chips, slave in bits 15-8 (for tests and the monitor). */
  get imr(): number {
    return this.master.imr | (this.slave.imr << 8);
  }
}
