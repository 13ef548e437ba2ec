// The persisted shape of the 8259A pair (shared/STYLE.md habit 2): plain, named, versioned.

export interface I8259ChipState {
  irr: number;
  isr: number;
  imr: number;
  /** Input line levels as last driven (edge detection). */
  lineLevels: number;
  elcr: number;
  vectorBase: number;
  /** The IRQ with lowest priority is (priorityAdd - 1) & 7; 0 means IR0 highest. */
  priorityAdd: number;
  /** 0 = not initialising; 2, 3, 4 = waiting for ICW2, ICW3, ICW4. */
  initStep: number;
  icw4Needed: boolean;
  singleMode: boolean;
  autoEoi: boolean;
  rotateOnAutoEoi: boolean;
  readIsr: boolean;
  pollPending: boolean;
  specialMask: boolean;
  specialFullyNested: boolean;
}

export interface PicState {
  version: 1;
  master: I8259ChipState;
  slave: I8259ChipState;
}
