// The management API's route table: one entry per operation. The server registers exactly these
// routes (api/server), the OpenAPI document is generated from them (api/openapi.json, kept true by
// a test), and the typed client (src/client) derives its method types from them.

import { Type, type TSchema } from '@sinclair/typebox';
import { ApiError, DeleteQuery, HostInfo, VmRef } from './common.js';
import { CreatedToken, TokenList, TokenRef, TokenSpec, type Role } from './token.js';
import { StopOptions, Vm, VmList, VmSpec } from './vm.js';

export const API_PREFIX = '/api/v1';

export interface RouteDef {
  method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI-style path under API_PREFIX, parameters in braces: `/vms/{vm}`. */
  path: string;
  operationId: string;
  summary: string;
  /** The least role allowed to call it (admin > operator > viewer). */
  role: Role;
  params?: TSchema;
  query?: TSchema;
  body?: TSchema;
  /** JSON responses by status; errors use ApiError. `sse` and `websocket` routes stream instead. */
  responses: Record<number, TSchema>;
  kind?: 'json' | 'sse' | 'websocket';
}

const errors = { 400: ApiError, 401: ApiError, 403: ApiError, 404: ApiError, 409: ApiError };
// Typed by inference (not `: RouteDef`) so that route-types.ts sees each action's params and body.
function action(operationId: string, verb: string, summary: string) {
  return {
    method: 'POST', path: `/vms/{vm}/${verb}`, operationId, summary, role: 'operator', params: VmRef,
    responses: { 200: Vm, ...errors },
  } as const;
}
function actionWithBody<B extends TSchema>(operationId: string, verb: string, summary: string, body: B) {
  return { ...action(operationId, verb, summary), body };
}

export const ROUTES = {
  listVms: { method: 'GET', path: '/vms', operationId: 'listVms', summary: 'List VMs', role: 'viewer', responses: { 200: VmList, ...errors } },
  createVm: { method: 'POST', path: '/vms', operationId: 'createVm', summary: 'Define a VM (it stays stopped)', role: 'operator', body: VmSpec, responses: { 201: Vm, ...errors } },
  getVm: { method: 'GET', path: '/vms/{vm}', operationId: 'getVm', summary: 'Show one VM', role: 'viewer', params: VmRef, responses: { 200: Vm, ...errors } },
  deleteVm: { method: 'DELETE', path: '/vms/{vm}', operationId: 'deleteVm', summary: 'Delete a VM (refused while it runs unless force)', role: 'operator', params: VmRef, query: DeleteQuery, responses: { 204: Type.Null(), ...errors } },
  startVm: action('startVm', 'start', 'Start a stopped or crashed VM'),
  stopVm: actionWithBody('stopVm', 'stop', 'Press the ACPI power button; force the stop after timeoutMs', StopOptions),
  forceStopVm: action('forceStopVm', 'force-stop', 'End the VMM process now'),
  pauseVm: action('pauseVm', 'pause', 'Pause every vCPU'),
  resumeVm: action('resumeVm', 'resume', 'Resume a paused VM'),
  rebootVm: action('rebootVm', 'reboot', 'Reset the machine'),
  vmConsole: { method: 'GET', path: '/vms/{vm}/console', operationId: 'vmConsole', summary: 'Serial console (WebSocket; binary frames both ways, scrollback first)', role: 'operator', params: VmRef, responses: { 101: Type.Null(), ...errors }, kind: 'websocket' },
  events: { method: 'GET', path: '/events', operationId: 'events', summary: 'Event stream (Server-Sent Events)', role: 'viewer', responses: { 200: Type.String(), ...errors }, kind: 'sse' },
  hostInfo: { method: 'GET', path: '/host', operationId: 'hostInfo', summary: 'Host resources and what VMs commit of them', role: 'viewer', responses: { 200: HostInfo, ...errors } },
  listTokens: { method: 'GET', path: '/tokens', operationId: 'listTokens', summary: 'List API tokens', role: 'admin', responses: { 200: TokenList, ...errors } },
  createToken: { method: 'POST', path: '/tokens', operationId: 'createToken', summary: 'Create an API token (the secret is shown once)', role: 'admin', body: TokenSpec, responses: { 201: CreatedToken, ...errors } },
  openapi: { method: 'GET', path: '/openapi.json', operationId: 'openapi', summary: 'This OpenAPI 3.1 document (api/openapi.json)', role: 'viewer', responses: { 200: Type.Object({ openapi: Type.String() }, { additionalProperties: true }), ...errors } },
  revokeToken: { method: 'DELETE', path: '/tokens/{token}', operationId: 'revokeToken', summary: 'Revoke an API token', role: 'admin', params: TokenRef, responses: { 204: Type.Null(), ...errors } },
} as const satisfies Record<string, RouteDef>;

export type RouteId = keyof typeof ROUTES;
