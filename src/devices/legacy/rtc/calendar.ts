// Calendar arithmetic and register encodings of the MC146818 time registers (datasheet Table 3,
// "Time, Calendar and Alarm Data Modes"): BCD or binary per register B DM, 12- or 24-hour per
// register B bit 1 with bit 7 of the hours byte meaning PM in 12-hour mode.

/** A broken-down UTC time as the RTC registers hold it (binary values). */
export interface RtcTimeFields {
  second: number;
  minute: number;
  hour: number; // 0-23
  /** 1-7, Sunday = 1 (the PC convention for register 6). */
  dayOfWeek: number;
  dayOfMonth: number; // 1-31
  month: number; // 1-12
  year: number; // full year, e.g. 2026
}

export function fieldsFromMs(ms: number): RtcTimeFields {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  return {
    second: d.getUTCSeconds(),
    minute: d.getUTCMinutes(),
    hour: d.getUTCHours(),
    dayOfWeek: d.getUTCDay() + 1,
    dayOfMonth: d.getUTCDate(),
    month: d.getUTCMonth() + 1,
    year: d.getUTCFullYear(),
  };
}

/** Milliseconds since the epoch for `f` (out-of-range values roll over, as Date.UTC does). */
export function msFromFields(f: RtcTimeFields): number {
  // Not Date.UTC: it reads years 0-99 as 1900-1999, and a guest may well write century 0.
  const d = new Date(0);
  d.setUTCFullYear(f.year, f.month - 1, f.dayOfMonth);
  d.setUTCHours(f.hour, f.minute, f.second, 0);
  const ms = d.getTime();
  return Number.isFinite(ms) ? ms : 0;
}

export function toBcd(v: number): number {
  return (Math.floor(v / 10) % 10 << 4) | v % 10;
}

export function fromBcd(v: number): number {
  return (v >> 4) * 10 + (v & 0x0f);
}

/** Encodes a plain field (not hours) per the data mode. */
export function encodeField(v: number, binary: boolean): number {
  return binary ? v & 0xff : toBcd(v);
}

export function decodeField(v: number, binary: boolean): number {
  return binary ? v : fromBcd(v);
}

const HOUR_PM = 0x80;

export function encodeHour(hour: number, binary: boolean, h24: boolean): number {
  if (h24) return encodeField(hour, binary);
  const h12 = hour % 12 === 0 ? 12 : hour % 12;
  return encodeField(h12, binary) | (hour >= 12 ? HOUR_PM : 0);
}

export function decodeHour(v: number, binary: boolean, h24: boolean): number {
  if (h24) return decodeField(v, binary);
  const h12 = decodeField(v & ~HOUR_PM, binary);
  return (h12 % 12) + (v & HOUR_PM ? 12 : 0);
}
