// The local APIC in xAPIC mode (SDM Vol. 3A chapter 10), one per vCPU, APIC ID = vCPU index.
// It is the vCPU's InterruptController (src/cpu/bus.ts, matched structurally): the soft CPU polls
// hasInterrupt() between instructions, so that answer is a cached boolean recomputed whenever IRR,
// ISR, TPR, SVR, LINT0 or the PIC's INTR change.
//
// Since we boot Linux without a BIOS, the bootstrap processor's APIC starts the way a BIOS leaves
// it in virtual-wire mode (MP spec §3.6.2.2): software-enabled, LINT0 = ExtINT (the 8259's INTR
// passes through), LINT1 = NMI, both unmasked. Application processors start in power-up state
// (software-disabled, every LVT masked).

import type { DeviceClock, IrqLine, MmioDevice, Persistable } from '../../device.js';
import { LAPIC_BASE } from '../../../arch/x86/layout.js';
import {
  APIC_DM_EXTINT,
  APIC_DM_FIXED,
  APIC_DM_INIT,
  APIC_DM_LOWEST,
  APIC_DM_NMI,
  APIC_DM_STARTUP,
  APIC_BROADCAST_ID,
} from '../apic-bus/bus.js';
import type { ApicBus, ApicBusTarget, ApicMessage } from '../apic-bus/bus.js';
import * as R from './registers.js';
import type { LocalApicMetrics } from './metrics.js';
import type { LocalApicState } from './persist.js';
import { ApicTimer } from './timer.js';

/** The PIC as LINT0 sees it in ExtINT mode: its INTR output and its INTA cycle. */
export interface ExtIntSource {
  hasInterrupt(): boolean;
  acknowledge(): number;
}

export interface LocalApicConfig {
  apicId: number;
  clock: DeviceClock;
  bus: ApicBus;
  /** Bootstrap processor (default: apicId 0): starts in virtual-wire mode, APIC_BASE bit 8. */
  bsp?: boolean;
  /** The 8259 pair behind LINT0 (BSP only). Its INTR output must be wired to `lint0`. */
  extInt?: ExtIntSource;
  /** TSC-deadline mode: guest TSC → guest ns, and the current TSC. Default: TSC counts ns. */
  tscToNs?: (tsc: bigint) => number;
  nowTsc?: () => bigint;
  /** Called when something becomes pending for this vCPU (interrupt, NMI, INIT, SIPI): wake it if halted. */
  onWake?: () => void;
}

function highestBit(words: Uint32Array): number {
  for (let i = 7; i >= 0; i--) {
    const w = words[i] as number;
    if (w !== 0) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}

export class LocalApic implements MmioDevice, ApicBusTarget, Persistable<LocalApicState> {
  readonly apicId: number;
  private readonly bus: ApicBus;
  private readonly bsp: boolean;
  private readonly extInt: ExtIntSource | undefined;
  private readonly onWake: (() => void) | undefined;

  private globalEnabled = true;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffff_ffff;
  private svr = 0xff;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private readonly irr = new Uint32Array(8);
  private esr = 0;
  private esrPending = 0;
  private icrLow = 0;
  private icrHigh = 0;
  private readonly lvt = new Uint32Array(R.APIC_LVT_COUNT);
  private lint0Level = false;
  private lint1Level = false;
  private readonly timer: ApicTimer;
  // Startup and NMI.
  private nmiPending = false;
  private initPending = false;
  private waitForSipi = false;
  private sipiVector = -1;
  // Caches.
  private highestIrr = -1;
  private ppr = 0;
  private pending = false;
  private readonly ipi: ApicMessage = {
    vector: 0,
    deliveryMode: 0,
    logical: false,
    destination: 0,
    levelTriggered: false,
    assert: true,
  };

  readonly metrics: LocalApicMetrics = { interruptsAccepted: 0, timerFires: 0, ipisSent: 0 };
  /** LINT0 and LINT1 input pins (the PIC's INTR goes to LINT0 on the BSP). */
  readonly lint0: IrqLine = { set: (level) => this.setLint(R.LVT_LINT0, level) };
  readonly lint1: IrqLine = { set: (level) => this.setLint(R.LVT_LINT1, level) };

  constructor(config: LocalApicConfig) {
    this.apicId = config.apicId & 0xff;
    this.bus = config.bus;
    this.bsp = config.bsp ?? config.apicId === 0;
    this.extInt = config.extInt;
    this.timer = new ApicTimer(
      config.clock,
      config.tscToNs ?? ((tsc) => Number(tsc)),
      config.nowTsc ?? (() => BigInt(Math.floor(config.clock.nowNs()))),
      () => this.timerFire(),
    );
    this.onWake = config.onWake;
    this.reset(this.bsp);
    this.bus.attach(this);
  }

  /** Power-up state (SDM §10.4.7.1), optionally with the BIOS's virtual-wire LINT setup. */
  private reset(virtualWire: boolean): void {
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = 0xffff_ffff;
    // A BIOS leaves the BSP's APIC software-enabled in virtual-wire mode; otherwise power-up state.
    this.svr = virtualWire ? 0x1ff : 0xff;
    this.isr.fill(0);
    this.tmr.fill(0);
    this.irr.fill(0);
    this.esr = 0;
    this.esrPending = 0;
    this.icrLow = 0;
    this.icrHigh = 0;
    this.lvt.fill(R.APIC_LVT_MASKED);
    if (virtualWire) {
      this.lvt[R.LVT_LINT0] = APIC_DM_EXTINT << R.APIC_LVT_DM_SHIFT;
      this.lvt[R.LVT_LINT1] = APIC_DM_NMI << R.APIC_LVT_DM_SHIFT;
    }
    this.timer.reset();
    this.highestIrr = -1;
    this.updatePpr();
  }

  // ---- InterruptController (src/cpu/bus.ts) ----

  hasInterrupt(): boolean {
    return this.pending;
  }

  acknowledge(): number {
    if (this.apicDeliverable()) {
      const v = this.highestIrr;
      const word = v >> 5;
      const bit = 1 << (v & 31);
      this.irr[word] = (this.irr[word] as number) & ~bit;
      this.isr[word] = (this.isr[word] as number) | bit;
      this.highestIrr = highestBit(this.irr);
      this.updatePpr();
      this.update();
      return v;
    }
    if (this.extIntDeliverable() && this.extInt !== undefined) {
      // The INTA cycle goes to the 8259; its INTR change comes back through lint0.
      const v = this.extInt.acknowledge();
      this.update();
      return v;
    }
    // Nothing deliverable any more (TPR raised meanwhile): the spurious vector (SDM §10.9).
    return this.svr & 0xff;
  }

  takeNmi(): boolean {
    if (!this.nmiPending) return false;
    this.nmiPending = false;
    return true;
  }

  takeStartup(): number {
    const v = this.sipiVector;
    this.sipiVector = -1;
    return v;
  }

  /** INIT received since the last call (the machine resets the vCPU and waits for SIPI). */
  takeInit(): boolean {
    const init = this.initPending;
    this.initPending = false;
    return init;
  }

  /** CR8 writes: TPR[7:4] = CR8[3:0] (SDM §10.8.6.1). */
  setTpr(cr8: number): void {
    this.tpr = (cr8 & 0xf) << 4;
    this.updatePpr();
    this.update();
  }

  getTpr(): number {
    return this.tpr >> 4;
  }

  readMsr(msr: number): bigint | undefined {
    if (msr === R.MSR_IA32_TSC_DEADLINE) {
      return this.timer.readDeadline();
    }
    if (msr === R.MSR_IA32_APICBASE) {
      return BigInt((LAPIC_BASE | (this.globalEnabled ? R.MSR_APICBASE_ENABLE : 0) | (this.bsp ? R.MSR_APICBASE_BSP : 0)) >>> 0);
    }
    return undefined;
  }

  writeMsr(msr: number, value: bigint): boolean {
    if (msr === R.MSR_IA32_TSC_DEADLINE) {
      this.timer.writeDeadline(value);
      return true;
    }
    if (msr === R.MSR_IA32_APICBASE) {
      // The base stays at LAPIC_BASE; x2APIC (bit 10) is not offered in CPUID, so it is ignored.
      const enable = (value & BigInt(R.MSR_APICBASE_ENABLE)) !== 0n;
      if (enable !== this.globalEnabled) {
        this.globalEnabled = enable;
        // Globally disabling resets the APIC to power-up state (SDM §10.4.3).
        if (!enable) this.reset(false);
        this.update();
      }
      return true;
    }
    return false;
  }

  // ---- ApicBusTarget ----

  matchesLogical(destination: number): boolean {
    if (destination === APIC_BROADCAST_ID) return true;
    const logicalId = this.ldr >>> 24;
    if (this.dfr >>> 28 === R.APIC_DFR_FLAT) return (logicalId & destination) !== 0;
    // Cluster model: cluster in bits 7:4, member bitmap in bits 3:0 (SDM §10.6.2.2).
    return logicalId >> 4 === destination >> 4 && (logicalId & destination & 0xf) !== 0;
  }

  arbitrationPriority(): number {
    const irrv = this.highestIrr < 0 ? 0 : this.highestIrr;
    const isrv = highestBit(this.isr);
    const top = Math.max(irrv, isrv < 0 ? 0 : isrv) & 0xf0;
    return (this.tpr & 0xf0) >= top ? this.tpr : top;
  }

  accept(m: ApicMessage): void {
    // A hardware-disabled APIC (IA32_APIC_BASE bit 11 clear) takes no part in bus messages.
    if (!this.globalEnabled) return;
    switch (m.deliveryMode) {
      case APIC_DM_FIXED:
      case APIC_DM_LOWEST:
        this.acceptVector(m.vector, m.levelTriggered);
        return;
      case APIC_DM_NMI:
        this.nmiPending = true;
        this.onWake?.();
        return;
      case APIC_DM_INIT:
        // INIT level de-assert only synchronised arbitration IDs on old parts: nothing to do.
        if (m.levelTriggered && !m.assert) return;
        // INIT resets the APIC except its ID (SDM §10.4.7.3) and the CPU waits for a SIPI.
        this.reset(false);
        this.initPending = true;
        this.waitForSipi = true;
        this.update();
        this.onWake?.();
        return;
      case APIC_DM_STARTUP:
        if (!this.waitForSipi) return; // a SIPI outside wait-for-SIPI is ignored
        this.waitForSipi = false;
        this.sipiVector = m.vector;
        this.onWake?.();
        return;
      default:
        // SMI has no SMM to go to; ExtINT messages from the IOAPIC are not supported (Linux uses
        // the LINT0 virtual wire only).
        return;
    }
  }

  // ---- Interrupt acceptance and priority ----

  private acceptVector(vector: number, levelTriggered: boolean): void {
    if (vector < 16) {
      this.raiseError(R.APIC_ESR_RECEIVE_ILLEGAL_VECTOR);
      return;
    }
    const word = vector >> 5;
    const bit = 1 << (vector & 31);
    this.irr[word] = (this.irr[word] as number) | bit;
    // TMR records the trigger mode so that EOI knows whether to broadcast (SDM §10.8.4).
    if (levelTriggered) this.tmr[word] = (this.tmr[word] as number) | bit;
    else this.tmr[word] = (this.tmr[word] as number) & ~bit;
    if (vector > this.highestIrr) this.highestIrr = vector;
    this.metrics.interruptsAccepted++;
    this.update();
  }

  private raiseError(bit: number): void {
    this.esrPending |= bit;
    const lvt = this.lvt[R.LVT_ERROR] as number;
    const vector = lvt & R.APIC_LVT_VECTOR_MASK;
    // An illegal error vector would only raise another error: drop it instead of recursing.
    if ((lvt & R.APIC_LVT_MASKED) === 0 && vector >= 16) this.acceptVector(vector, false);
  }

  private updatePpr(): void {
    const isrv = highestBit(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    // PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4 (SDM §10.8.3.1).
    this.ppr = (this.tpr & 0xf0) >= isrClass ? this.tpr : isrClass;
  }

  private softwareEnabled(): boolean {
    return (this.svr & R.APIC_SPIV_APIC_ENABLED) !== 0;
  }

  private apicDeliverable(): boolean {
    return (
      this.globalEnabled &&
      this.softwareEnabled() &&
      this.highestIrr >= 0 &&
      (this.highestIrr & 0xf0) > (this.ppr & 0xf0)
    );
  }

  private extIntDeliverable(): boolean {
    if (!this.lint0Level) return false;
    // A globally disabled APIC passes INTR straight to the core (SDM §10.4.3).
    if (!this.globalEnabled) return true;
    const lvt = this.lvt[R.LVT_LINT0] as number;
    return (lvt & R.APIC_LVT_MASKED) === 0 && ((lvt >> R.APIC_LVT_DM_SHIFT) & 7) === APIC_DM_EXTINT;
  }

  private update(): void {
    const pending = this.apicDeliverable() || this.extIntDeliverable();
    if (pending && !this.pending) {
      this.pending = true;
      this.onWake?.();
    } else {
      this.pending = pending;
    }
  }

  private setLint(index: number, level: boolean): void {
    const was = index === R.LVT_LINT0 ? this.lint0Level : this.lint1Level;
    if (index === R.LVT_LINT0) this.lint0Level = level;
    else this.lint1Level = level;
    const lvt = this.lvt[index] as number;
    const mode = (lvt >> R.APIC_LVT_DM_SHIFT) & 7;
    if (mode === APIC_DM_EXTINT || index === R.LVT_LINT0) this.update();
    if (lvt & R.APIC_LVT_MASKED || !level) return;
    if (mode === APIC_DM_NMI && !was) {
      this.nmiPending = true;
      this.onWake?.();
    } else if (mode === APIC_DM_FIXED && (!was || lvt & R.APIC_LVT_LEVEL_TRIGGER)) {
      this.acceptVector(lvt & R.APIC_LVT_VECTOR_MASK, (lvt & R.APIC_LVT_LEVEL_TRIGGER) !== 0);
    }
  }

  private eoi(): void {
    const v = highestBit(this.isr);
    if (v < 0) return;
    const word = v >> 5;
    const bit = 1 << (v & 31);
    this.isr[word] = (this.isr[word] as number) & ~bit;
    this.updatePpr();
    this.update();
    // Level-triggered vectors tell the IOAPICs, which clear remote IRR (SDM §10.8.5).
    if ((this.tmr[word] as number) & bit) this.bus.broadcastEoi(v);
  }

  // ---- IPIs ----

  private sendIpi(): void {
    const low = this.icrLow;
    const m = this.ipi;
    m.vector = low & R.APIC_ICR_VECTOR_MASK;
    m.deliveryMode = (low >> R.APIC_ICR_DM_SHIFT) & 7;
    m.logical = (low & R.APIC_ICR_DEST_LOGICAL) !== 0;
    m.destination = this.icrHigh >>> 24;
    m.levelTriggered = (low & R.APIC_ICR_TRIGGER_LEVEL) !== 0;
    m.assert = (low & R.APIC_ICR_LEVEL_ASSERT) !== 0;
    if ((m.deliveryMode === APIC_DM_FIXED || m.deliveryMode === APIC_DM_LOWEST) && m.vector < 16) {
      this.raiseError(R.APIC_ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    // Only INIT uses the level bit: every other IPI is an edge with "assert".
    if (m.deliveryMode !== APIC_DM_INIT) {
      m.assert = true;
      m.levelTriggered = false;
    }
    this.metrics.ipisSent++;
    this.bus.send(m, (low >> R.APIC_ICR_SHORTHAND_SHIFT) & 3, this.apicId);
  }

  // ---- Timer (SDM §10.5.4; counting in timer.ts) ----

  private timerFire(): void {
    this.metrics.timerFires++;
    const lvt = this.lvt[R.LVT_TIMER] as number;
    if ((lvt & R.APIC_LVT_MASKED) === 0) this.acceptVector(lvt & R.APIC_LVT_VECTOR_MASK, false);
  }

  private writeLvt(index: number, value: number): void {
    let v = value & (R.LVT_WRITABLE[index] as number);
    if (!this.softwareEnabled()) v |= R.APIC_LVT_MASKED; // SDM §10.4.7.2
    this.lvt[index] = v;
    if (index === R.LVT_TIMER) this.timer.setMode((v >> R.APIC_LVT_TIMER_MODE_SHIFT) & 3);
    if (index === R.LVT_LINT0) this.update();
  }

  private writeSvr(value: number): void {
    this.svr = value & R.APIC_SPIV_WRITABLE;
    if (!this.softwareEnabled()) {
      for (let i = 0; i < R.APIC_LVT_COUNT; i++) this.lvt[i] = (this.lvt[i] as number) | R.APIC_LVT_MASKED;
    }
    this.update();
  }

  // ---- MMIO ----

  private readRegister(reg: number): number {
    if (reg >= R.APIC_ISR && reg < R.APIC_ESR) {
      const index = (reg - R.APIC_ISR) >> 4;
      const words = index < 8 ? this.isr : index < 16 ? this.tmr : this.irr;
      return words[index & 7] as number;
    }
    switch (reg) {
      case R.APIC_ID:
        return (this.apicId << 24) >>> 0;
      case R.APIC_LVR:
        return R.APIC_VERSION;
      case R.APIC_TASKPRI:
        return this.tpr;
      case R.APIC_ARBPRI:
        return this.arbitrationPriority();
      case R.APIC_PROCPRI:
        return this.ppr;
      case R.APIC_LDR:
        return this.ldr;
      case R.APIC_DFR:
        return this.dfr;
      case R.APIC_SPIV:
        return this.svr;
      case R.APIC_ESR:
        return this.esr;
      case R.APIC_ICR:
        return this.icrLow; // delivery status (bit 12) always reads idle
      case R.APIC_ICR2:
        return this.icrHigh;
      case R.APIC_LVTT:
      case R.APIC_LVTTHMR:
      case R.APIC_LVTPC:
      case R.APIC_LVT0:
      case R.APIC_LVT1:
      case R.APIC_LVTERR:
        return this.lvt[(reg - R.APIC_LVTT) >> 4] as number;
      case R.APIC_TMICT:
        return this.timer.initial;
      case R.APIC_TMCCT:
        return this.timer.currentCount();
      case R.APIC_TDCR:
        return this.timer.divide;
      default:
        return 0;
    }
  }

  private writeRegister(reg: number, value: number): void {
    switch (reg) {
      case R.APIC_TASKPRI:
        this.tpr = value & 0xff;
        this.updatePpr();
        this.update();
        return;
      case R.APIC_EOI:
        this.eoi();
        return;
      case R.APIC_LDR:
        this.ldr = value & 0xff00_0000;
        return;
      case R.APIC_DFR:
        this.dfr = (value & 0xf000_0000) | R.APIC_DFR_RESERVED_ONES;
        return;
      case R.APIC_SPIV:
        this.writeSvr(value);
        return;
      case R.APIC_ESR:
        // A write latches the errors seen since the last write (SDM §10.5.3).
        this.esr = this.esrPending;
        this.esrPending = 0;
        return;
      case R.APIC_ICR:
        this.icrLow = value & R.APIC_ICR_WRITABLE;
        this.sendIpi();
        return;
      case R.APIC_ICR2:
        this.icrHigh = value & 0xff00_0000;
        return;
      case R.APIC_LVTT:
      case R.APIC_LVTTHMR:
      case R.APIC_LVTPC:
      case R.APIC_LVT0:
      case R.APIC_LVT1:
      case R.APIC_LVTERR:
        this.writeLvt((reg - R.APIC_LVTT) >> 4, value);
        return;
      case R.APIC_TMICT:
        this.timer.writeInitialCount(value);
        return;
      case R.APIC_TDCR:
        this.timer.writeDivideConfig(value);
        return;
      default:
        return; // ID, version and read-only registers ignore writes
    }
  }

  mmioRead(offset: number, size: 1 | 2 | 4): number {
    const value = this.readRegister(offset & 0xff0);
    const shift = (offset & 3) * 8;
    if (size === 4) return (value >>> shift) >>> 0;
    return (value >>> shift) & ((1 << (size * 8)) - 1);
  }

  mmioWrite(offset: number, _size: 1 | 2 | 4, value: number): void {
    // Registers are 32 bits wide and must be written as such; narrower writes act on the dword.
    this.writeRegister(offset & 0xff0, value >>> 0);
  }

  // ---- Persistence ----

  save(): LocalApicState {
    return {
      version: 1,
      apicId: this.apicId,
      globalEnabled: this.globalEnabled,
      tpr: this.tpr,
      ldr: this.ldr,
      dfr: this.dfr,
      svr: this.svr,
      isr: Array.from(this.isr),
      tmr: Array.from(this.tmr),
      irr: Array.from(this.irr),
      esr: this.esr,
      esrPending: this.esrPending,
      icrLow: this.icrLow,
      icrHigh: this.icrHigh,
      lvt: Array.from(this.lvt),
      lint0Level: this.lint0Level,
      lint1Level: this.lint1Level,
      timer: this.timer.save(),
      nmiPending: this.nmiPending,
      initPending: this.initPending,
      waitForSipi: this.waitForSipi,
      sipiVector: this.sipiVector,
    };
  }

  restore(s: LocalApicState): void {
    if (s.version !== 1) throw new Error(`Cannot restore local APIC ${String(this.apicId)}: state version ${String(s.version)} is not supported`);
    if (s.apicId !== this.apicId) {
      throw new Error(`Cannot restore local APIC ${String(this.apicId)}: the state is for APIC ${String(s.apicId)}`);
    }
    this.globalEnabled = s.globalEnabled;
    this.tpr = s.tpr;
    this.ldr = s.ldr;
    this.dfr = s.dfr;
    this.svr = s.svr;
    this.isr.set(s.isr);
    this.tmr.set(s.tmr);
    this.irr.set(s.irr);
    this.esr = s.esr;
    this.esrPending = s.esrPending;
    this.icrLow = s.icrLow;
    this.icrHigh = s.icrHigh;
    this.lvt.set(s.lvt);
    this.lint0Level = s.lint0Level;
    this.lint1Level = s.lint1Level;
    this.nmiPending = s.nmiPending;
    this.initPending = s.initPending;
    this.waitForSipi = s.waitForSipi;
    this.sipiVector = s.sipiVector;
    this.highestIrr = highestBit(this.irr);
    this.updatePpr();
    this.pending = false;
    this.timer.restore(s.timer);
    this.update();
  }
}
