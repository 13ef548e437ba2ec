// MAC addresses for virtual NICs: parsing, formatting, and generation. A generated address is
// locally administered and unicast (IEEE 802: bit 1 of the first octet set, bit 0 clear).

import { randomBytes, createHash } from 'node:crypto';
import { TshvError } from '../common/errors.js';

export const MAC_BYTES = 6;

/** Parses "52:54:00:12:34:56" (or with dashes); throws TshvError on anything else. */
export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text.trim());
  if (m === null) throw new TshvError(`Cannot parse MAC address "${text}": expected six hex octets like 52:54:00:12:34:56`);
  const mac = Uint8Array.from(m.slice(1).map((x) => parseInt(x, 16)));
  if ((mac[0]! & 1) !== 0) throw new TshvError(`Cannot use MAC address "${text}": it is a multicast address`);
  return mac;
}

export function formatMac(mac: Uint8Array): string {
  return [...mac.subarray(0, MAC_BYTES)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function localUnicast(b: Uint8Array): Uint8Array {
  const mac = Uint8Array.from(b.subarray(0, MAC_BYTES));
  mac[0] = (mac[0]! & 0xfc) | 0x02;
  return mac;
}

/** A random locally administered unicast MAC. */
export function randomMac(): Uint8Array {
  return localUnicast(randomBytes(MAC_BYTES));
}

/** A MAC derived from `seed` (e.g. VM name + NIC index): the same seed gives the same address. */
export function deterministicMac(seed: string): Uint8Array {
  return localUnicast(createHash('sha256').update(seed).digest());
}
