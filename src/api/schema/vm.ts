// The VM resource of the management API: what a user asks for (VmSpec) and what the daemon reports
// (Vm). TypeBox schemas are the single source: request validation, the OpenAPI document
// (api/openapi.json) and the TypeScript types of the client all come from them.

import { Type, type Static } from '@sinclair/typebox';

/** DNS-label-like names: usable in paths, cgroup names and TAP names without quoting. */
export const VmName = Type.String({
  pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
  description: 'Unique VM name: lowercase letters, digits and "-", 1 to 63 characters, not starting with "-"',
});

export const VmState = Type.Union([
  Type.Literal('stopped'),
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('paused'),
  Type.Literal('stopping'),
  Type.Literal('crashed'),
], { description: 'Lifecycle state; the transitions are in src/daemon/vm-state.ts' });
export type VmState = Static<typeof VmState>;

export const DiskSpec = Type.Object({
  path: Type.String({ minLength: 1, description: 'Raw image file on the host' }),
  readOnly: Type.Optional(Type.Boolean({ default: false })),
  serial: Type.Optional(Type.String({ maxLength: 20, description: 'virtio-blk device ID (VIRTIO_BLK_T_GET_ID)' })),
  bps: Type.Optional(Type.Integer({ minimum: 1, description: 'Bytes per second limit' })),
  iops: Type.Optional(Type.Integer({ minimum: 1, description: 'Requests per second limit' })),
}, { additionalProperties: false });
export type DiskSpec = Static<typeof DiskSpec>;

export const NicSpec = Type.Object({
  tap: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$', description: 'Host TAP interface (created when absent)' }),
  mac: Type.Optional(Type.String({ pattern: '^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$' })),
  bps: Type.Optional(Type.Integer({ minimum: 1, description: 'Bytes per second limit' })),
}, { additionalProperties: false });
export type NicSpec = Static<typeof NicSpec>;

/** What `POST /api/v1/vms` takes. Absent boot fields mean the default guest. */
export const VmSpec = Type.Object({
  name: VmName,
  cpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 32, default: 1 })),
  memoryMib: Type.Optional(Type.Integer({ minimum: 16, maximum: 1024 * 1024, default: 512 })),
  kernel: Type.Optional(Type.String({ minLength: 1, description: 'Kernel file on the host; absent: the default guest' })),
  initrd: Type.Optional(Type.String({ minLength: 1 })),
  append: Type.Optional(Type.String({ maxLength: 4096, description: 'Kernel command line' })),
  disks: Type.Optional(Type.Array(DiskSpec, { maxItems: 16 })),
  nics: Type.Optional(Type.Array(NicSpec, { maxItems: 8 })),
  engine: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('soft'), Type.Literal('kvm')], { default: 'auto' })),
  autostart: Type.Optional(Type.Boolean({ default: false, description: 'Start when the daemon starts' })),
  cpuWeight: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Relative CPU share (cgroup cpu.weight)' })),
  cpuCapPercent: Type.Optional(Type.Integer({ minimum: 1, maximum: 3200, description: 'CPU cap, 100 = one host CPU (cgroup cpu.max)' })),
  memoryLimitMib: Type.Optional(Type.Integer({ minimum: 16, description: 'Hard limit on the VMM process memory (cgroup memory.max)' })),
}, { additionalProperties: false });
export type VmSpec = Static<typeof VmSpec>;

export const Vm = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: VmName,
  spec: VmSpec,
  state: VmState,
  /** Why the VM is in its state, e.g. the exit reason of a crashed VMM. */
  stateReason: Type.Optional(Type.String()),
  pid: Type.Optional(Type.Integer({ description: 'VMM process ID while it runs' })),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Type.Optional(Type.String({ format: 'date-time' })),
  limits: Type.Object({
    enforced: Type.Boolean({ description: 'Whether CPU and memory limits are applied by cgroups' }),
    detail: Type.String({ description: 'How (cgroup v2, v1) or why not' }),
  }),
}, { additionalProperties: false });
export type Vm = Static<typeof Vm>;

export const VmList = Type.Object({ vms: Type.Array(Vm) });
export type VmList = Static<typeof VmList>;

export const StopOptions = Type.Object({
  timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, default: 30_000,
    description: 'Time the guest has to power off after the ACPI power button before it is forced' })),
}, { additionalProperties: false });
export type StopOptions = Static<typeof StopOptions>;
