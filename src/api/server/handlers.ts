// One handler per JSON route: HTTP in (validated params, query, body), one DaemonService call out.
// The mapped type makes the compiler insist on exactly one handler for every JSON route of ROUTES.

import type { RouteId, ROUTES } from '../schema/routes.js';
import type { BodyOf, ParamsOf, QueryOf, ResponseOf } from '../schema/route-types.js';
import type { DaemonService } from '../../daemon/service.js';
import { buildOpenApiDocument } from '../openapi.js';

export interface HandlerInput<K extends RouteId> {
  params: ParamsOf<K>;
  query: QueryOf<K>;
  body: BodyOf<K>;
}

export interface HandlerOutput<K extends RouteId> {
  status: number;
  body: ResponseOf<K>;
}

type StreamRouteId = { [K in RouteId]: (typeof ROUTES)[K] extends { kind: 'sse' | 'websocket' } ? K : never }[RouteId];
export type JsonRouteId = Exclude<RouteId, StreamRouteId>;

export type Handlers = {
  [K in JsonRouteId]: (service: DaemonService, input: HandlerInput<K>) => Promise<HandlerOutput<K>> | HandlerOutput<K>;
};

const ok = <T>(body: T): { status: 200; body: T } => ({ status: 200, body });

export const HANDLERS: Handlers = {
  listVms: (s) => ok({ vms: s.listVms() }),
  createVm: (s, { body }) => ({ status: 201, body: s.createVm(body) }),
  getVm: (s, { params }) => ok(s.getVm(params.vm)),
  deleteVm: async (s, { params, query }) => {
    await s.deleteVm(params.vm, query.force ?? false);
    return { status: 204, body: undefined };
  },
  startVm: async (s, { params }) => ok(await s.startVm(params.vm)),
  stopVm: async (s, { params, body }) => ok(await s.stopVm(params.vm, body.timeoutMs ?? 30_000)),
  forceStopVm: async (s, { params }) => ok(await s.forceStopVm(params.vm)),
  pauseVm: async (s, { params }) => ok(await s.pauseVm(params.vm)),
  resumeVm: async (s, { params }) => ok(await s.resumeVm(params.vm)),
  rebootVm: async (s, { params }) => ok(await s.rebootVm(params.vm)),
  hostInfo: (s) => ok(s.hostInfo()),
  openapi: () => ok(buildOpenApiDocument() as ResponseOf<'openapi'>),
  listTokens: (s) => ok({ tokens: s.listTokens() }),
  createToken: (s, { body }) => ({ status: 201, body: s.createToken(body) }),
  revokeToken: (s, { params }) => {
    s.revokeToken(params.token);
    return { status: 204, body: undefined };
  },
};
