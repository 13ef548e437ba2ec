// Shapes shared by every route: errors, path parameters, the host's summary, events.

import { Type, type Static } from '@sinclair/typebox';
import { VmState } from './vm.js';

/** Every 4xx/5xx body. `code` is stable for scripts; `message` is one line for people. */
export const ApiError = Type.Object({
  error: Type.Object({
    code: Type.Union([
      Type.Literal('bad-request'), Type.Literal('unauthorized'), Type.Literal('forbidden'),
      Type.Literal('not-found'), Type.Literal('conflict'), Type.Literal('internal'),
    ]),
    message: Type.String(),
  }),
}, { additionalProperties: false });
export type ApiError = Static<typeof ApiError>;

/** A VM named by its name or its id. */
export const VmRef = Type.Object({ vm: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

export const DeleteQuery = Type.Object({
  force: Type.Optional(Type.Boolean({ default: false, description: 'Force-stop a running VM first' })),
}, { additionalProperties: false });

export const HostInfo = Type.Object({
  hostname: Type.String(),
  version: Type.String(),
  cpus: Type.Integer(),
  memoryMib: Type.Integer({ description: 'Host RAM' }),
  memoryFreeMib: Type.Integer({ description: 'Host RAM available (MemAvailable)' }),
  vms: Type.Object({ defined: Type.Integer(), running: Type.Integer() }),
  committed: Type.Object({
    cpus: Type.Integer({ description: 'vCPUs of running VMs' }),
    memoryMib: Type.Integer({ description: 'Guest RAM of running VMs' }),
  }),
  overcommit: Type.Object({
    cpuRatio: Type.Number({ description: 'committed vCPUs / host CPUs' }),
    memoryRatio: Type.Number({ description: 'committed guest RAM / host RAM' }),
  }),
  cgroups: Type.String({ description: "'v2', 'v1' or 'none': how VM limits are applied" }),
}, { additionalProperties: false });
export type HostInfo = Static<typeof HostInfo>;

/** One event, on `GET /api/v1/events` (SSE: `event: <type>`, `data: <JSON>`). */
export const ApiEvent = Type.Union([
  Type.Object({ type: Type.Literal('vm-created'), time: Type.String(), vm: Type.String(), id: Type.String() }),
  Type.Object({ type: Type.Literal('vm-deleted'), time: Type.String(), vm: Type.String(), id: Type.String() }),
  Type.Object({
    type: Type.Literal('vm-state'), time: Type.String(), vm: Type.String(), id: Type.String(),
    from: VmState, to: VmState, reason: Type.Optional(Type.String()),
  }),
]);
export type ApiEvent = Static<typeof ApiEvent>;
