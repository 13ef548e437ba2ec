// An IrqLine for unit tests: remembers the current level and counts rising edges, so a test can
// check both "the line is high now" (level devices) and "it fired N times" (edge consumers).

import type { IrqLine } from '../device.js';

export class RecordingIrqLine implements IrqLine {
  level = false;
  /** Low → high transitions seen. */
  risingEdges = 0;
  /** Every set() call, in order (including repeats of the same level). */
  readonly history: boolean[] = [];

  set(level: boolean): void {
    if (level && !this.level) this.risingEdges++;
    this.level = level;
    this.history.push(level);
  }
}
