// User input for a virtio-blk disk, validated (shared/STYLE.md: FooConfig), and the parser of
// `tshv run --disk FILE[,ro][,serial=ID][,bps=N][,iops=N]`. Kept here, outside src/vmm, so the
// CLI, the daemon and tests share it.

import { TshvError } from '../../../common/errors.js';

/** The device ID string is at most 20 bytes (virtio 1.2 §5.2.6: VIRTIO_BLK_T_GET_ID). */
export const VIRTIO_BLK_ID_BYTES = 20;

export interface BlockConfig {
  path: string;
  readOnly: boolean;
  /** Device ID the guest reads with VIRTIO_BLK_T_GET_ID (/sys/block/vdX/serial). */
  serial?: string;
  /** Rate limits; 0 or absent: unlimited. */
  bytesPerSecond?: number;
  opsPerSecond?: number;
}

const SUFFIX: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };

/** "1048576", "10M", "512k" (binary multiples). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)([kmg]i?)?$/i.exec(text.trim());
  const mult = m === null ? undefined : SUFFIX[(m[2] ?? '').toLowerCase()];
  const n = m === null || mult === undefined ? NaN : Number(m[1]) * mult;
  if (!Number.isSafeInteger(n)) throw new TshvError(`Cannot parse ${what} "${text}": expected a number with an optional K, M or G suffix`);
  return n;
}

/** Parses one `--disk` value. */
export function parseDiskOption(value: string): BlockConfig {
  const parts = value.split(',');
  const path = parts[0] ?? '';
  if (path === '') throw new TshvError(`Cannot parse --disk "${value}": the first field must be the image file`);
  const cfg: BlockConfig = { path, readOnly: false };
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const v = eq < 0 ? undefined : p.slice(eq + 1);
    if (key === 'ro' && v === undefined) cfg.readOnly = true;
    else if (key === 'serial' && v !== undefined) cfg.serial = v;
    else if (key === 'bps' && v !== undefined) cfg.bytesPerSecond = parseSize(v, 'bps');
    else if (key === 'iops' && v !== undefined) cfg.opsPerSecond = parseSize(v, 'iops');
    else throw new TshvError(`Cannot parse --disk "${value}": unknown option "${p}" (expected ro, serial=ID, bps=N, iops=N)`);
  }
  return validateBlockConfig(cfg);
}

export function validateBlockConfig(cfg: BlockConfig): BlockConfig {
  if (cfg.serial !== undefined) {
    if (Buffer.byteLength(cfg.serial) > VIRTIO_BLK_ID_BYTES || !/^[\x20-\x7e]*$/.test(cfg.serial)) {
      throw new TshvError(`Cannot attach drive ${cfg.path}: serial "${cfg.serial}" must be at most ${VIRTIO_BLK_ID_BYTES} printable ASCII characters`);
    }
  }
  for (const [k, v] of [['bps', cfg.bytesPerSecond], ['iops', cfg.opsPerSecond]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new TshvError(`Cannot attach drive ${cfg.path}: invalid ${k} ${v}`);
  }
  return cfg;
}
