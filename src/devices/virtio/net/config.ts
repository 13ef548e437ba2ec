// User input for a virtio-net NIC, validated (shared/STYLE.md: FooConfig), and the parser of
// `tshv run --net tap=NAME[,mac=MAC][,bps=N]`.

import { TshvError } from '../../../common/errors.js';
import { parseMac } from '../../../network/mac.js';
import { validateTapName } from '../../../network/tap.js';
import { parseSize } from '../block/config.js';

export interface NetConfig {
  /** TAP interface name; created (non-persistent) when absent. */
  tap: string;
  /** Guest MAC "52:54:00:..."; absent: a random locally administered one (or `macSeed`). */
  mac?: string;
  /** Derive the MAC from this string instead of randomly (deterministic runs). */
  macSeed?: string;
  /** Rate limit per direction in bytes/s; 0 or absent: unlimited. */
  bytesPerSecond?: number;
}

/** Parses one `--net` value: `tap=NAME[,mac=MAC][,bps=N]`. */
export function parseNetOption(value: string): NetConfig {
  let tap: string | undefined;
  const cfg: Partial<NetConfig> = {};
  for (const p of value.split(',')) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const v = eq < 0 ? undefined : p.slice(eq + 1);
    if (key === 'tap' && v !== undefined) tap = v;
    else if (key === 'mac' && v !== undefined) cfg.mac = v;
    else if (key === 'bps' && v !== undefined) cfg.bytesPerSecond = parseSize(v, 'bps');
    else throw new TshvError(`Cannot parse --net "${value}": unknown option "${p}" (expected tap=NAME, mac=MAC, bps=N)`);
  }
  if (tap === undefined) throw new TshvError(`Cannot parse --net "${value}": tap=NAME is required`);
  return validateNetConfig({ ...cfg, tap });
}

export function validateNetConfig(cfg: NetConfig): NetConfig {
  try {
    validateTapName(cfg.tap);
    if (cfg.mac !== undefined) parseMac(cfg.mac);
  } catch (e) {
    throw new TshvError(`Cannot attach NIC "${cfg.tap}": ${e instanceof Error ? e.message : String(e)}`);
  }
  if (cfg.bytesPerSecond !== undefined && (!Number.isSafeInteger(cfg.bytesPerSecond) || cfg.bytesPerSecond < 0)) {
    throw new TshvError(`Cannot attach NIC "${cfg.tap}": invalid bps ${cfg.bytesPerSecond}`);
  }
  return cfg;
}
