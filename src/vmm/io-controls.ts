// Run-time I/O controls of a machine (issue 4): the memory balloon's target and statistics, and
// the rate limits of disks and NICs. The control socket's `balloon`, `balloon-stats` and
// `set-rate-limit` actions (control/protocol.ts) land here through the engine. Devices are named
// as the default guest names them, in attachment order: disks vda, vdb, ...; NICs eth0, eth1, ...

import { TshvError } from '../common/errors.js';
import type { VirtioBalloon, VirtioBlock, VirtioConsole, VirtioNet } from '../devices/virtio/index.js';
import { BALLOON_PAGE_BYTES } from '../devices/virtio/balloon/request.js';
import type { VmmBalloonInfo, VmmRateLimit } from './control/protocol.js';

const MIB = 1024 * 1024;
/** How long balloon-stats waits for the guest's fresh statistics before answering with the last ones. */
export const BALLOON_STATS_WAIT_MS = 2000;
const BALLOON_STATS_POLL_MS = 10;

/** A change of rate limits: a field left out keeps its limit; null or 0 removes it. */
export interface RateLimitChange {
  bps?: number | null | undefined;
  iops?: number | null | undefined;
}

/** What the engine-neutral controls need from a machine. */
export interface IoControlTargets {
  balloon: VirtioBalloon | undefined;
  /** In attachment order (vda first). */
  disks: readonly VirtioBlock[];
  /** In attachment order (eth0 first). */
  nics: readonly VirtioNet[];
  /** Guest RAM in MiB (the balloon cannot take more). */
  memSizeMib: number;
  /** The virtio-console behind hvc0, when attached. */
  console?: VirtioConsole | undefined;
  /** Wakes an idle machine (host input arrived). */
  wake?: () => void;
}

/** The guest's name of the n-th virtio disk: vda ... vdz, vdaa ... (Linux's sd/vd naming). */
export function diskName(index: number): string {
  let name = '';
  let n = index;
  do {
    name = String.fromCharCode(97 + (n % 26)) + name;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `vd${name}`;
}

function limitValue(v: number | null | undefined, keep: number, what: string, device: string): number {
  if (v === undefined) return keep;
  if (v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new TshvError(`Cannot set the rate limit of ${device}: ${what} must be a whole number >= 0 or null, not ${JSON.stringify(v)}`);
  }
  return v;
}

export class IoControls {
  constructor(private readonly targets: IoControlTargets) {}

  private requireBalloon(): VirtioBalloon {
    const b = this.targets.balloon;
    if (b === undefined) throw new TshvError('This machine has no memory balloon');
    return b;
  }

  /** Sets the balloon's target (whole MiB, 0 ... guest RAM); the guest inflates or deflates to it. */
  setBalloonTarget(targetMib: number): VmmBalloonInfo {
    const b = this.requireBalloon();
    const max = this.targets.memSizeMib;
    if (typeof targetMib !== 'number' || !Number.isSafeInteger(targetMib) || targetMib < 0 || targetMib > max) {
      throw new TshvError(`Invalid balloon target ${JSON.stringify(targetMib)}: must be a whole number of MiB from 0 to ${max}`);
    }
    b.setTarget((targetMib * MIB) / BALLOON_PAGE_BYTES);
    return this.balloonInfoNow();
  }

  /** The balloon's state now, without asking the guest for fresh statistics. */
  balloonInfoNow(): VmmBalloonInfo {
    const b = this.requireBalloon();
    return {
      targetMib: (b.targetPages * BALLOON_PAGE_BYTES) / MIB,
      actualMib: (b.actualPages * BALLOON_PAGE_BYTES) / MIB,
      releasedBytes: b.metrics.releasedBytes,
      guestStats: { ...b.stats },
      statsUpdates: b.metrics.statsUpdates,
      vmmRssBytes: process.memoryUsage.rss(),
    };
  }

  /**
   * Asks the guest for fresh statistics (§5.5.6.3: the device gives the stats buffer back, the
   * driver refills it) and answers when they came, or after BALLOON_STATS_WAIT_MS with the last ones.
   * The machine keeps running meanwhile (the soft engine yields to the event loop between slices).
   */
  async balloonStats(waitMs = BALLOON_STATS_WAIT_MS): Promise<VmmBalloonInfo> {
    const b = this.requireBalloon();
    const before = b.metrics.statsUpdates;
    if (b.requestStats()) {
      const deadline = performance.now() + waitMs;
      while (b.metrics.statsUpdates === before && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, BALLOON_STATS_POLL_MS));
      }
    }
    return this.balloonInfoNow();
  }

  /**
   * Host input for the guest's hvc0; false, taking nothing, when the console's bounded queue is
   * full (the caller retries) or there is no virtio-console.
   */
  pushHvcInput(bytes: Uint8Array): boolean {
    const c = this.targets.console;
    if (c === undefined || !c.pushInput(bytes)) return false;
    this.targets.wake?.();
    return true;
  }

  /** Changes a disk's (bps, iops) or a NIC's (bps) limits at run time; returns the limits now. */
  setRateLimit(device: string, change: RateLimitChange): VmmRateLimit {
    const diskIndex = this.targets.disks.findIndex((_, i) => diskName(i) === device);
    const disk = this.targets.disks[diskIndex];
    if (disk !== undefined) {
      const now = disk.rateLimit;
      const bps = limitValue(change.bps, now.bytesPerSecond, 'bps', device);
      const iops = limitValue(change.iops, now.opsPerSecond, 'iops', device);
      disk.setRateLimit(bps, iops);
      return { device, bps, iops };
    }
    const m = /^eth(\d+)$/.exec(device);
    const nic = m === null ? undefined : this.targets.nics[Number(m[1])];
    if (nic !== undefined) {
      if (change.iops !== undefined && change.iops !== null && change.iops !== 0) {
        throw new TshvError(`Cannot set the rate limit of ${device}: NICs have no iops limit`);
      }
      const bps = limitValue(change.bps, nic.bytesPerSecond, 'bps', device);
      nic.setRateLimit(bps);
      return { device, bps, iops: 0 };
    }
    const known = [...this.targets.disks.map((_, i) => diskName(i)), ...this.targets.nics.map((_, i) => `eth${i}`)];
    throw new TshvError(`No device "${device}" to rate-limit${known.length > 0 ? ` (this machine has ${known.join(', ')})` : ' (this machine has no disks or NICs)'}`);
  }
}
