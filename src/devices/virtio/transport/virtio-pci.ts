// Virtio over PCI, modern interface only (virtio 1.2 §4.1): vendor 0x1af4, device 0x1040 + type,
// revision 1, and vendor capabilities (§4.1.4) pointing into one memory BAR that holds the
// common configuration, the notification area, the ISR byte and the device configuration; the
// MSI-X table and PBA live in the same BAR. The transport knows nothing of block or net.

import type { AccessSize } from '../../bus.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { PciConfigSpace } from '../../pci/config-space.js';
import { Msix, type MsixState } from '../../pci/msix.js';
import type { MsiSink, PciDevice } from '../../pci/pci-device.js';
import { chainErrorName } from '../queue/descriptor-chain.js';
import { Virtqueue, type VirtqueueState } from '../queue/virtqueue.js';
import {
  featureBit, VIRTIO_F_RING_EVENT_IDX, VIRTIO_F_RING_INDIRECT_DESC, VIRTIO_F_VERSION_1, VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FAILED, VIRTIO_STATUS_FEATURES_OK, type VirtioContext, type VirtioDevice,
} from '../virtio-device.js';

export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
/** Modern device IDs are 0x1040 + device type (§4.1.2.1). */
export const VIRTIO_PCI_MODERN_DEVICE_ID_BASE = 0x1040;
/** Subsystem device ID for modern-only devices: ≥ 0x40 (§4.1.2.1). */
export const VIRTIO_PCI_SUBSYSTEM_ID = 0x40;
/** Vendor-specific capability and its cfg_type values (§4.1.4). */
export const PCI_CAP_ID_VNDR = 0x09;
export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
export const VIRTIO_PCI_CAP_PCI_CFG = 5;
/** "No vector" for config_msix_vector / queue_msix_vector (§4.1.5.1.2). */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;
/** ISR bits (§4.1.4.5). */
export const VIRTIO_ISR_QUEUE = 1;
export const VIRTIO_ISR_CONFIG = 2;

/** Common configuration register offsets (§4.1.4.3). */
export const COMMON_DFSELECT = 0x00;
export const COMMON_DF = 0x04;
export const COMMON_GFSELECT = 0x08;
export const COMMON_GF = 0x0c;
export const COMMON_MSIX = 0x10;
export const COMMON_NUMQ = 0x12;
export const COMMON_STATUS = 0x14;
export const COMMON_CFGGENERATION = 0x15;
export const COMMON_Q_SELECT = 0x16;
export const COMMON_Q_SIZE = 0x18;
export const COMMON_Q_MSIX = 0x1a;
export const COMMON_Q_ENABLE = 0x1c;
export const COMMON_Q_NOFF = 0x1e;
export const COMMON_Q_DESCLO = 0x20;
export const COMMON_Q_DESCHI = 0x24;
export const COMMON_Q_AVAILLO = 0x28;
export const COMMON_Q_AVAILHI = 0x2c;
export const COMMON_Q_USEDLO = 0x30;
export const COMMON_Q_USEDHI = 0x34;
export const COMMON_Q_NDATA = 0x38;
export const COMMON_Q_RESET = 0x3a;
export const COMMON_CFG_BYTES = 0x3c;

/** Our BAR 0 layout. Each region on its own 4 KiB page so a driver could map them apart. */
export const VIRTIO_BAR = 0;
export const BAR_COMMON = 0x0000;
export const BAR_ISR = 0x1000;
export const BAR_DEVICE = 0x2000;
export const BAR_DEVICE_BYTES = 0x1000;
export const BAR_NOTIFY = 0x3000;
export const NOTIFY_OFF_MULTIPLIER = 4;
export const BAR_MSIX_TABLE = 0x4000;
export const BAR_MSIX_PBA = 0x5000;
export const VIRTIO_BAR_BYTES = 0x8000;
const MAX_QUEUES = 0x1000 / NOTIFY_OFF_MULTIPLIER;

/** Class code for devices without a better one: "other" (0xff). */
export const PCI_CLASS_OTHERS = 0xff_00_00;

export interface VirtioPciMetrics {
  notifications: number;
  /** Notifications dropped: before DRIVER_OK, after NEEDS_RESET, or for a queue that does not exist. */
  droppedNotifications: number;
  interrupts: number;
  needsResetCount: number;
}

export interface VirtioPciState {
  version: 1;
  status: number;
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
  /** Hex of the 64-bit driver feature word. */
  driverFeatures: string;
  configMsixVector: number;
  queueSelect: number;
  queueMsixVectors: number[];
  isr: number;
  configGeneration: number;
  queues: VirtqueueState[];
  msix: MsixState;
  device: unknown;
}

const TRANSPORT_FEATURES = featureBit(VIRTIO_F_VERSION_1) | featureBit(VIRTIO_F_RING_INDIRECT_DESC) | featureBit(VIRTIO_F_RING_EVENT_IDX);

export class VirtioPciDevice implements PciDevice, VirtioContext {
  readonly name: string;
  readonly config: PciConfigSpace;
  readonly msix: Msix;
  readonly queues: Virtqueue[];
  readonly metrics: VirtioPciMetrics = { notifications: 0, droppedNotifications: 0, interrupts: 0, needsResetCount: 0 };
  /** Why the device last asked for a reset (for logs and tests). */
  lastError = '';
  private readonly deviceFeatures: bigint;
  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private configMsixVector = VIRTIO_MSI_NO_VECTOR;
  private queueSelect = 0;
  private readonly queueMsixVectors: number[];
  private isr = 0;
  private configGeneration = 0;
  /** Offset of the VIRTIO_PCI_CAP_PCI_CFG capability (§4.1.4.9) in configuration space. */
  private readonly pciCfgCap: number;

  constructor(readonly device: VirtioDevice, readonly memory: GuestMemory, msi: MsiSink) {
    const n = device.queueMaxSizes.length;
    if (n < 1 || n > MAX_QUEUES) throw new RangeError(`Invalid virtio queue count ${n}`);
    if (device.configBytes > BAR_DEVICE_BYTES) throw new RangeError('Virtio device configuration too large');
    this.name = device.name;
    this.deviceFeatures = device.features | TRANSPORT_FEATURES;
    this.queues = device.queueMaxSizes.map((s) => new Virtqueue(s));
    this.queueMsixVectors = new Array<number>(n).fill(VIRTIO_MSI_NO_VECTOR);
    this.config = new PciConfigSpace({
      vendorId: VIRTIO_PCI_VENDOR_ID,
      deviceId: VIRTIO_PCI_MODERN_DEVICE_ID_BASE + device.deviceType,
      classCode: device.pciClassCode,
      revisionId: 1,
      subsystemVendorId: VIRTIO_PCI_VENDOR_ID,
      subsystemId: VIRTIO_PCI_SUBSYSTEM_ID,
    });
    this.config.addMemoryBar(VIRTIO_BAR, VIRTIO_BAR_BYTES);
    // One vector per queue plus one for configuration changes (Linux's preferred layout).
    this.msix = new Msix(this.config, n + 1, VIRTIO_BAR, BAR_MSIX_TABLE, BAR_MSIX_PBA, msi);
    this.addVirtioCap(VIRTIO_PCI_CAP_COMMON_CFG, BAR_COMMON, COMMON_CFG_BYTES);
    const notify = this.addVirtioCap(VIRTIO_PCI_CAP_NOTIFY_CFG, BAR_NOTIFY, n * NOTIFY_OFF_MULTIPLIER, 4);
    this.config.setU32(notify + 16, NOTIFY_OFF_MULTIPLIER);
    this.addVirtioCap(VIRTIO_PCI_CAP_ISR_CFG, BAR_ISR, 1);
    if (device.configBytes > 0) this.addVirtioCap(VIRTIO_PCI_CAP_DEVICE_CFG, BAR_DEVICE, device.configBytes);
    // The alternative access window (§4.1.4.9): the driver writes bar, offset and length, then
    // reads or writes pci_cfg_data. Linux does not use it, but the spec requires it.
    const cfg = this.addVirtioCap(VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 4);
    this.config.setMask(cfg + 4, 1, 0xff);
    this.config.setMask(cfg + 8, 4, 0xffff_ffff);
    this.config.setMask(cfg + 12, 4, 0xffff_ffff);
    this.config.setMask(cfg + 16, 4, 0xffff_ffff);
    this.pciCfgCap = cfg;
  }

  /** The window's BAR access size, or 0 when bar/offset/length do not describe a valid access. */
  private pciCfgAccess(): AccessSize | 0 {
    const c = this.pciCfgCap;
    const len = this.config.u32(c + 12);
    const off = this.config.u32(c + 8);
    if (this.config.u8(c + 4) !== VIRTIO_BAR || (len !== 1 && len !== 2 && len !== 4) || off % len !== 0 || off + len > VIRTIO_BAR_BYTES) return 0;
    return len;
  }

  configRead(offset: number, size: AccessSize): number | undefined {
    const data = this.pciCfgCap + 16;
    if (offset < data || offset >= data + 4) return undefined;
    const len = this.pciCfgAccess();
    if (len === 0) return 0;
    const v = this.barRead(VIRTIO_BAR, this.config.u32(this.pciCfgCap + 8), len);
    this.config.setU32(data, v);
    return this.config.read(offset, size);
  }

  /** struct virtio_pci_cap (§4.1.4): cap_vndr, cap_next, cap_len, cfg_type, bar, id, pad, offset, length. */
  private addVirtioCap(cfgType: number, offset: number, length: number, extraBytes = 0): number {
    const len = 16 + extraBytes;
    const cap = this.config.addCapability(PCI_CAP_ID_VNDR, len);
    this.config.setU8(cap + 2, len);
    this.config.setU8(cap + 3, cfgType);
    this.config.setU8(cap + 4, VIRTIO_BAR);
    this.config.setU32(cap + 8, offset);
    this.config.setU32(cap + 12, length);
    return cap;
  }

  /**
   * Offset in BAR `VIRTIO_BAR` of queue `queueIndex`'s notification register: with
   * PciBus.barMapping() and onBarChange(), what a KVM ioeventfd is registered on (the eventfd
   * handler then calls notify(queueIndex)).
   */
  notifyOffset(queueIndex: number): number {
    return BAR_NOTIFY + queueIndex * NOTIFY_OFF_MULTIPLIER;
  }

  get deviceStatus(): number {
    return this.status;
  }

  get features(): bigint {
    return this.driverFeatures;
  }

  // --- PciDevice ---

  configWritten(offset: number, size: AccessSize): void {
    this.msix.configWritten(offset, size);
    const data = this.pciCfgCap + 16;
    if (offset >= data && offset < data + 4) {
      const len = this.pciCfgAccess();
      if (len !== 0) this.barWrite(VIRTIO_BAR, this.config.u32(this.pciCfgCap + 8), len, this.config.read(data, len));
    }
  }

  barRead(bar: number, offset: number, size: AccessSize): number {
    if (bar !== VIRTIO_BAR) return 0;
    if (offset < BAR_COMMON + COMMON_CFG_BYTES) return this.commonRead(offset - BAR_COMMON, size);
    if (offset >= BAR_DEVICE && offset < BAR_DEVICE + BAR_DEVICE_BYTES) {
      const o = offset - BAR_DEVICE;
      return o + size <= this.device.configBytes ? this.device.readConfig(o, size) : 0;
    }
    if (offset === BAR_ISR) {
      // Reading the ISR clears it (§4.1.4.5.1).
      const v = this.isr;
      this.isr = 0;
      return v;
    }
    if (offset >= BAR_MSIX_TABLE && offset < BAR_MSIX_PBA) return this.msix.tableRead(offset - BAR_MSIX_TABLE, size);
    if (offset >= BAR_MSIX_PBA && offset < VIRTIO_BAR_BYTES) return this.msix.pbaRead(offset - BAR_MSIX_PBA, size);
    return 0;
  }

  barWrite(bar: number, offset: number, size: AccessSize, value: number): void {
    if (bar !== VIRTIO_BAR) return;
    if (offset >= BAR_NOTIFY && offset < BAR_NOTIFY + this.queues.length * NOTIFY_OFF_MULTIPLIER) {
      // The queue is the one whose notify_off selects this address; the value written is the
      // queue index as well (§4.1.5.2), but the address is what we trust.
      this.notify((offset - BAR_NOTIFY) / NOTIFY_OFF_MULTIPLIER | 0);
      return;
    }
    if (offset < BAR_COMMON + COMMON_CFG_BYTES) {
      this.commonWrite(offset - BAR_COMMON, size, value);
      return;
    }
    if (offset >= BAR_DEVICE && offset < BAR_DEVICE + BAR_DEVICE_BYTES) {
      const o = offset - BAR_DEVICE;
      if (o + size <= this.device.configBytes) this.device.writeConfig(o, size, value);
      return;
    }
    if (offset >= BAR_MSIX_TABLE && offset < BAR_MSIX_PBA) this.msix.tableWrite(offset - BAR_MSIX_TABLE, size, value);
  }

  /**
   * A queue notification: the entry point for both engines (the soft engine's MMIO write above,
   * an ioeventfd handler on KVM). Never throws: a device failure becomes NEEDS_RESET.
   */
  notify(queueIndex: number): void {
    this.metrics.notifications++;
    const q = this.queues[queueIndex];
    if ((this.status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) !== VIRTIO_STATUS_DRIVER_OK || q === undefined || !q.activated) {
      this.metrics.droppedNotifications++;
      return;
    }
    try {
      this.device.notify(queueIndex);
    } catch (e) {
      this.needsReset(`queue ${queueIndex}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // --- common configuration (§4.1.4.3) ---

  private commonRead(offset: number, size: AccessSize): number {
    // Registers are naturally aligned; read the containing register and extract.
    const q = this.queues[this.queueSelect];
    switch (offset) {
      case COMMON_DFSELECT: return this.deviceFeatureSelect;
      case COMMON_DF: return this.deviceFeatureSelect < 2 ? Number(BigInt.asUintN(32, this.deviceFeatures >> BigInt(32 * this.deviceFeatureSelect))) : 0;
      case COMMON_GFSELECT: return this.driverFeatureSelect;
      case COMMON_GF: return this.driverFeatureSelect < 2 ? Number(BigInt.asUintN(32, this.driverFeatures >> BigInt(32 * this.driverFeatureSelect))) : 0;
      case COMMON_MSIX: return this.configMsixVector;
      case COMMON_NUMQ: return this.queues.length;
      case COMMON_STATUS: return size === 1 ? this.status : this.status | (this.configGeneration << 8);
      case COMMON_CFGGENERATION: return this.configGeneration;
      case COMMON_Q_SELECT: return this.queueSelect;
      case COMMON_Q_SIZE: return q?.size ?? 0;
      case COMMON_Q_MSIX: return q === undefined ? VIRTIO_MSI_NO_VECTOR : this.queueMsixVectors[this.queueSelect]!;
      case COMMON_Q_ENABLE: return q?.ready === true ? 1 : 0;
      case COMMON_Q_NOFF: return q === undefined ? 0 : this.queueSelect;
      case COMMON_Q_DESCLO: return q === undefined ? 0 : q.descAddr >>> 0;
      case COMMON_Q_DESCHI: return q === undefined ? 0 : Math.floor(q.descAddr / 0x1_0000_0000);
      case COMMON_Q_AVAILLO: return q === undefined ? 0 : q.availAddr >>> 0;
      case COMMON_Q_AVAILHI: return q === undefined ? 0 : Math.floor(q.availAddr / 0x1_0000_0000);
      case COMMON_Q_USEDLO: return q === undefined ? 0 : q.usedAddr >>> 0;
      case COMMON_Q_USEDHI: return q === undefined ? 0 : Math.floor(q.usedAddr / 0x1_0000_0000);
      default: return 0;
    }
  }

  private commonWrite(offset: number, size: AccessSize, value: number): void {
    const q = this.queues[this.queueSelect];
    // Queue registers only change while the device is being set up (§4.1.4.3.2).
    const live = (this.status & VIRTIO_STATUS_DRIVER_OK) !== 0;
    switch (offset) {
      case COMMON_DFSELECT: this.deviceFeatureSelect = value >>> 0; return;
      case COMMON_GFSELECT: this.driverFeatureSelect = value >>> 0; return;
      case COMMON_GF: {
        if ((this.status & VIRTIO_STATUS_FEATURES_OK) !== 0 || this.driverFeatureSelect > 1) return;
        const shift = BigInt(32 * this.driverFeatureSelect);
        const mask = 0xffff_ffffn << shift;
        this.driverFeatures = (this.driverFeatures & ~mask) | (BigInt(value >>> 0) << shift);
        return;
      }
      case COMMON_MSIX: this.configMsixVector = this.checkVector(value & 0xffff); return;
      case COMMON_STATUS: this.writeStatus(value & 0xff); return;
      case COMMON_Q_SELECT: this.queueSelect = value & 0xffff; return;
      case COMMON_Q_SIZE: if (q !== undefined && !live && !q.ready) q.size = value & 0xffff; return;
      case COMMON_Q_MSIX: if (q !== undefined) this.queueMsixVectors[this.queueSelect] = this.checkVector(value & 0xffff); return;
      case COMMON_Q_ENABLE: if (q !== undefined && !live && (value & 1) === 1) q.ready = true; return;
      case COMMON_Q_DESCLO: if (q !== undefined && !live && !q.ready) q.descAddr = setLow(q.descAddr, value); return;
      case COMMON_Q_DESCHI: if (q !== undefined && !live && !q.ready) q.descAddr = setHigh(q.descAddr, value); return;
      case COMMON_Q_AVAILLO: if (q !== undefined && !live && !q.ready) q.availAddr = setLow(q.availAddr, value); return;
      case COMMON_Q_AVAILHI: if (q !== undefined && !live && !q.ready) q.availAddr = setHigh(q.availAddr, value); return;
      case COMMON_Q_USEDLO: if (q !== undefined && !live && !q.ready) q.usedAddr = setLow(q.usedAddr, value); return;
      case COMMON_Q_USEDHI: if (q !== undefined && !live && !q.ready) q.usedAddr = setHigh(q.usedAddr, value); return;
      default: void size; return;
    }
  }

  /** A vector beyond the table cannot be mapped: the register reads NO_VECTOR (§4.1.5.1.2.1). */
  private checkVector(v: number): number {
    return v < this.msix.vectorCount ? v : VIRTIO_MSI_NO_VECTOR;
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const old = this.status;
    let next = (old & (VIRTIO_STATUS_DEVICE_NEEDS_RESET)) | value;
    // FEATURES_OK is only accepted for a feature set we offered and that includes VERSION_1
    // (§2.2.2, §6.1); leaving the bit clear tells the driver the negotiation failed.
    if ((value & VIRTIO_STATUS_FEATURES_OK) !== 0 && (old & VIRTIO_STATUS_FEATURES_OK) === 0) {
      const ok = (this.driverFeatures & ~this.deviceFeatures) === 0n && (this.driverFeatures & featureBit(VIRTIO_F_VERSION_1)) !== 0n;
      if (!ok) next &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    if ((old & VIRTIO_STATUS_FEATURES_OK) !== 0 && (next & VIRTIO_STATUS_FEATURES_OK) === 0) {
      // Clearing FEATURES_OK is not allowed once set; keep it.
      next |= VIRTIO_STATUS_FEATURES_OK;
    }
    this.status = next;
    if ((next & VIRTIO_STATUS_DRIVER_OK) !== 0 && (old & VIRTIO_STATUS_DRIVER_OK) === 0 && (next & VIRTIO_STATUS_FAILED) === 0) {
      if ((next & VIRTIO_STATUS_FEATURES_OK) === 0) {
        this.needsReset('DRIVER_OK without FEATURES_OK');
        return;
      }
      this.activateQueues();
    }
  }

  private activateQueues(): void {
    const eventIdx = (this.driverFeatures & featureBit(VIRTIO_F_RING_EVENT_IDX)) !== 0n;
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i]!;
      q.eventIdx = eventIdx;
      if (!q.ready) continue;
      const err = q.activate(this.memory);
      if (err !== 0) {
        this.needsReset(`queue ${i}: ${chainErrorName(err)}`);
        return;
      }
    }
    try {
      this.device.activate(this);
    } catch (e) {
      this.needsReset(`activation failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Device reset (§2.1.2, §4.1.4.3.2): registers back to their initial values. */
  reset(): void {
    try {
      this.device.reset();
    } catch {
      // A device that fails to reset still gets its transport state cleared.
    }
    this.status = 0;
    this.deviceFeatureSelect = this.driverFeatureSelect = 0;
    this.driverFeatures = 0n;
    this.configMsixVector = VIRTIO_MSI_NO_VECTOR;
    this.queueSelect = 0;
    this.queueMsixVectors.fill(VIRTIO_MSI_NO_VECTOR);
    this.isr = 0;
    for (const q of this.queues) q.reset();
  }

  // --- VirtioContext ---

  signalUsed(queueIndex: number): void {
    const q = this.queues[queueIndex];
    if (q === undefined || !q.needsInterrupt()) return;
    this.isr |= VIRTIO_ISR_QUEUE;
    this.raise(this.queueMsixVectors[queueIndex]!);
  }

  needsReset(reason: string): void {
    this.lastError = reason;
    if ((this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0) return;
    this.metrics.needsResetCount++;
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    // The driver learns of it through a configuration change interrupt (§2.1.2).
    this.isr |= VIRTIO_ISR_CONFIG;
    this.raise(this.configMsixVector);
  }

  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) & 0xff;
    this.isr |= VIRTIO_ISR_CONFIG;
    this.raise(this.configMsixVector);
  }

  private raise(vector: number): void {
    // Without MSI-X there is no interrupt: we offer no INTx pin (the ISR still records it).
    if (vector === VIRTIO_MSI_NO_VECTOR) return;
    if (this.msix.signal(vector)) this.metrics.interrupts++;
  }

  // --- persistence ---

  save(): VirtioPciState {
    return {
      version: 1,
      status: this.status,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      driverFeatures: this.driverFeatures.toString(16),
      configMsixVector: this.configMsixVector,
      queueSelect: this.queueSelect,
      queueMsixVectors: [...this.queueMsixVectors],
      isr: this.isr,
      configGeneration: this.configGeneration,
      queues: this.queues.map((q) => q.save()),
      msix: this.msix.save(),
      device: this.device.saveDevice(),
    };
  }

  /** Restores a saved transport; with DRIVER_OK set, the queues and the device are re-activated. */
  restore(s: VirtioPciState): void {
    if (s.version !== 1) throw new RangeError(`Cannot restore virtio-pci state of "${this.name}": version ${String(s.version)} is not supported (expected 1)`);
    if (s.queues.length !== this.queues.length) throw new RangeError(`Cannot restore virtio-pci state of "${this.name}": queue count differs`);
    this.reset();
    this.deviceFeatureSelect = s.deviceFeatureSelect;
    this.driverFeatureSelect = s.driverFeatureSelect;
    this.driverFeatures = BigInt('0x' + s.driverFeatures);
    this.configMsixVector = s.configMsixVector;
    this.queueSelect = s.queueSelect;
    s.queueMsixVectors.forEach((v, i) => { this.queueMsixVectors[i] = v; });
    this.isr = s.isr;
    this.configGeneration = s.configGeneration;
    s.queues.forEach((q, i) => this.queues[i]!.restore(q));
    this.msix.restore(s.msix);
    this.device.restoreDevice(s.device);
    this.status = s.status;
    if ((s.status & VIRTIO_STATUS_DRIVER_OK) !== 0 && (s.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) === 0) this.activateQueues();
  }
}

function setLow(old: number, v: number): number {
  return Math.floor(old / 0x1_0000_0000) * 0x1_0000_0000 + (v >>> 0);
}

function setHigh(old: number, v: number): number {
  // Addresses above 2^53 cannot be RAM; keep them invalid (activation will refuse the ring).
  const hi = v >>> 0;
  return hi >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + (old >>> 0);
}
