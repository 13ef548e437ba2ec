// The persisted shape of the 8254 PIT and port 0x61 (shared/STYLE.md habit 2).

export interface PitChannelState {
  mode: number;
  /** Access mode from the control word: 1 = LSB, 2 = MSB, 3 = LSB then MSB. */
  rwMode: number;
  bcd: boolean;
  /** Count written by the guest, as a tick count (1..65536, or 1..10000 in BCD); 0 = none yet. */
  reload: number;
  /** Counting has been started by a count write (and, in modes 1 and 5, a gate trigger). */
  armed: boolean;
  running: boolean;
  /** Ticks elapsed before `startNs` (gate pauses in modes 0 and 4). */
  baseTicks: number;
  startNs: number;
  gate: boolean;
  nullCount: boolean;
  /** -1 when no count is latched. */
  latchedCount: number;
  latchedHighNext: boolean;
  /** -1 when no status is latched. */
  latchedStatus: number;
  readHighNext: boolean;
  writeHighNext: boolean;
  writeLowByte: number;
  /** Index of the next IRQ event (channel 0): the k-th period, or 1 for one-shot modes. */
  nextEvent: number;
}

export interface PitState {
  version: 1;
  channels: PitChannelState[];
  /** Port 0x61 bit 1 (speaker data); the gate is channel 2's `gate`. */
  speakerData: boolean;
  refreshToggle: boolean;
  /** Level currently driven on IRQ 0 (mode 0 holds OUT high after terminal count). */
  irqLevel: boolean;
}
