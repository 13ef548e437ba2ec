// TypeScript types derived from the route table, shared by the server's handlers and the typed
// client so that both sides follow ROUTES and the schemas, never a hand-written copy.

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ROUTES, type RouteDef, type RouteId } from './routes.js';

type Route<K extends RouteId> = (typeof ROUTES)[K];

/** Path parameters of a route (`{ vm: string }`), or undefined when it has none. */
export type ParamsOf<K extends RouteId> = Route<K> extends { params: infer S extends TSchema } ? Static<S> : undefined;
/** Query parameters of a route, or undefined when it has none. */
export type QueryOf<K extends RouteId> = Route<K> extends { query: infer S extends TSchema } ? Static<S> : undefined;
/** Request body of a route, or undefined when it takes none. */
export type BodyOf<K extends RouteId> = Route<K> extends { body: infer S extends TSchema } ? Static<S> : undefined;

/** The success body of a JSON route (200 or 201); void for 204 and the streaming routes. */
export type ResponseOf<K extends RouteId> =
  Route<K>['responses'] extends { 200: infer S extends TSchema } ? Static<S>
    : Route<K>['responses'] extends { 201: infer S extends TSchema } ? Static<S>
      : void;

/** What a call of route K needs, without the absent parts. */
export type RouteInput<K extends RouteId> =
  (ParamsOf<K> extends undefined ? unknown : { params: ParamsOf<K> })
  & (QueryOf<K> extends undefined ? unknown : { query?: Partial<QueryOf<K>> })
  & (BodyOf<K> extends undefined ? unknown : { body: BodyOf<K> });

/** Browsers cannot set headers on EventSource or WebSocket: those routes also take `?token=`. */
export const StreamQuery = Type.Object({
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'API token, for browsers that cannot send an Authorization header' })),
}, { additionalProperties: false });

/** The query schema a route really accepts: its own, or StreamQuery for SSE and WebSocket routes. */
export function effectiveQuery(route: RouteDef): TSchema | undefined {
  if (route.query !== undefined) return route.query;
  return route.kind === 'sse' || route.kind === 'websocket' ? StreamQuery : undefined;
}

/** `/vms/{vm}/start` → `/vms/:vm/start` (the router's syntax). */
export function routerPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/** Fills a route's path with its parameters, each URI-encoded. */
export function fillPath(path: string, params: Record<string, string> | undefined): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new Error(`missing path parameter "${name}" for ${path}`);
    return encodeURIComponent(value);
  });
}

/** The daemon's local socket in $TSHV_HOME: the server listens there, the client connects there. */
export const DAEMON_SOCKET_FILE = 'tshvd.sock';

/** Role order: a route open to `need` accepts `have` when have ≥ need. */
export const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 } as const;
