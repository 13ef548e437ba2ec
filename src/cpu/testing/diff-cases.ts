// Test cases for the differential tests of the soft CPU against the host CPU (diff.test.ts):
// instruction encodings × interesting operand values, built with a fixed-seed PRNG so every run
// sees the same cases. The builders by area live in diff-cases-*.ts, shared helpers in
// diff-case-kit.ts.

import { CaseList, type DiffCase } from './diff-case-kit.js';
import { addAddressingCases } from './diff-cases-addr.js';
import { addControlFlowCases, addInvalidEncodingCases, addPrefixCases, addSelfModifyingCases, prefixFuzzCases } from './diff-cases-control.js';
import { addIntegerAluCases } from './diff-cases-int.js';
import { addMmxCases } from './diff-cases-mmx.js';
import { addMiscIntegerCases } from './diff-cases-misc.js';
import { addProtected32Cases } from './diff-cases-p32.js';
import { addReal16Cases } from './diff-cases-r16.js';
import { addSequenceCases } from './diff-cases-seq.js';
import { addSseCases } from './diff-cases-sse.js';
import { addX87Cases } from './diff-cases-x87.js';

export type { DiffCase, DiffInput } from './diff-case-kit.js';
export { DATA_ADDRESS } from './diff-case-kit.js';

export const DIFF_SEED = 0x7e57ca5e;

/** All differential test cases, in a fixed order. */
export function generateDiffCases(seed = DIFF_SEED): DiffCase[] {
  const list = new CaseList(seed);
  addIntegerAluCases(list);
  addMiscIntegerCases(list);
  addControlFlowCases(list);
  addInvalidEncodingCases(list);
  addPrefixCases(list);
  addSelfModifyingCases(list);
  addSequenceCases(list);
  addAddressingCases(list);
  addSseCases(list);
  addX87Cases(list);
  addMmxCases(list);
  addProtected32Cases(list);
  addReal16Cases(list);
  prefixFuzzCases(list, list.cases);
  return list.cases;
}
