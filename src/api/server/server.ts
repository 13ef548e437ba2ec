// The management API as a fastify app, built from ROUTES by one registration loop: validation from
// the route's schemas (ajv, through fastify), auth by role, one handler per JSON route (handlers.ts),
// the event stream (SSE) and the serial console (WebSocket). Listening is listen.ts's business.

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import { Value } from '@sinclair/typebox/value';
import { Type, type TSchema } from '@sinclair/typebox';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { API_PREFIX, ROUTES, type RouteDef, type RouteId } from '../schema/routes.js';
import { ROLE_RANK, effectiveQuery, routerPath } from '../schema/route-types.js';
import type { Role } from '../schema/token.js';
import type { DaemonService } from '../../daemon/service.js';
import { HttpError, toApiError } from './errors.js';
import { HANDLERS, type HandlerInput, type HandlerOutput, type JsonRouteId } from './handlers.js';

export interface ApiServerOptions {
  /** `socket`: the local Unix socket (mode 0600), where every request is admin without a token;
   *  `http`: every request needs `Authorization: Bearer <secret>` (or `?token=` on streams). */
  transport: 'socket' | 'http';
  /** Origins (`https://console.example:8443`) allowed to open WebSockets besides the same origin. */
  allowedOrigins?: readonly string[];
  /** One line per request and per internal error; query strings are left out (tokens may be there). */
  log?: (line: string) => void;
  /** Interval of the SSE keep-alive comment (default 15 s). */
  sseKeepAliveMs?: number;
}

export interface BuiltApi {
  app: FastifyInstance;
  /** `METHOD /api/v1/...` of every registered route, in the router's `:param` syntax. */
  routes: string[];
}

/** Largest console frame from a client; keyboard input is small. */
const CONSOLE_MAX_FRAME_BYTES = 64 * 1024;
/** Console output waits for the client when this much is buffered on the WebSocket. */
const CONSOLE_HIGH_WATER_BYTES = 1024 * 1024;
const DEFAULT_SSE_KEEPALIVE_MS = 15_000;
const NO_QUERY = Type.Object({}, { additionalProperties: false });

interface RouteConfig { routeId?: RouteId }

/** A handler with its route's types erased: validation has already made the input fit. */
type AnyHandler = (s: DaemonService, input: HandlerInput<JsonRouteId>) => Promise<HandlerOutput<JsonRouteId>> | HandlerOutput<JsonRouteId>;

function routeOf(request: FastifyRequest): [RouteId, RouteDef] | undefined {
  const id = (request.routeOptions.config as RouteConfig | undefined)?.routeId;
  return id === undefined ? undefined : [id, ROUTES[id]];
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export async function buildApiServer(service: DaemonService, options: ApiServerOptions): Promise<BuiltApi> {
  const log = options.log ?? ((): void => {});
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    forceCloseConnections: true,
    // Strict validation: unknown fields are errors (not silently dropped) and a body's "2" is not 2.
    // Query strings are converted by their schema in preValidation instead (they are all text).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false, verbose: true } },
    // Errors of the router itself (bad percent-encoding, an overlong path parameter) take the
    // same one-line shape as everything else.
    frameworkErrors: (error, _request, reply) => {
      const { status, body } = toApiError(error);
      void (reply as FastifyReply).code(status).send(body);
    },
  });
  await app.register(websocket, { options: { maxPayload: CONSOLE_MAX_FRAME_BYTES } });

  const routes: string[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) routes.push(`${m} ${r.url}`);
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body, internal } = toApiError(error);
    if (internal) log(`internal error on ${request.method} ${pathOf(request.url)}: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({
    error: { code: 'not-found', message: `No route ${request.method} ${pathOf(request.url)}` },
  }));
  app.addHook('onResponse', (request, reply, done) => {
    log(`${request.method} ${pathOf(request.url)} ${reply.statusCode} ${Math.round(reply.elapsedTime)}ms`);
    done();
  });

  app.addHook('onRequest', (request, _reply, done) => {
    try {
      authorize(service, request, options);
      done();
    } catch (e) {
      done(e as Error);
    }
  });

  // Open streams, ended when the server closes so that close() does not wait for them.
  const sseEnders = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of [...sseEnders]) end();
    done();
  });

  for (const [id, route] of Object.entries(ROUTES) as [RouteId, RouteDef][]) {
    const schema: { params?: TSchema; querystring?: TSchema; body?: TSchema } = {};
    if (route.params !== undefined) schema.params = route.params;
    // A route without query parameters refuses any, as bodies refuse unknown fields.
    const query = effectiveQuery(route) ?? NO_QUERY;
    schema.querystring = query;
    if (route.body !== undefined) schema.body = route.body;
    const base = {
      method: route.method,
      url: `${API_PREFIX}${routerPath(route.path)}`,
      schema,
      config: { routeId: id } satisfies RouteConfig,
      preValidation: prepareInput(route, query),
    };
    if (route.kind === 'websocket') {
      const pending = new WeakMap<IncomingMessage, Duplex>();
      app.route({
        ...base,
        preHandler: async (request: FastifyRequest) => {
          if (!request.ws) throw new HttpError(400, 'bad-request', `${route.path} is a WebSocket: send an Upgrade request`);
          // Opened before the upgrade so that an unknown VM or a wrong state is a plain 404/409.
          const stream = await service.openConsole((request.params as { vm: string }).vm);
          pending.set(request.raw, stream);
          // A handshake that fails after this point never reaches wsHandler.
          request.raw.socket.once('close', () => {
            if (pending.delete(request.raw)) stream.destroy();
          });
        },
        wsHandler: (socket: WebSocket, request: FastifyRequest) => {
          const stream = pending.get(request.raw);
          pending.delete(request.raw);
          if (stream === undefined) {
            socket.close(1011, 'console not open');
            return;
          }
          pipeConsole(socket, stream);
        },
        handler: () => Promise.reject(new HttpError(400, 'bad-request', `${route.path} is a WebSocket: send an Upgrade request`)),
      });
    } else if (route.kind === 'sse') {
      app.route({
        ...base,
        handler: (request: FastifyRequest, reply: FastifyReply) => {
          serveEvents(service, request, reply, options.sseKeepAliveMs ?? DEFAULT_SSE_KEEPALIVE_MS, sseEnders);
        },
      });
    } else {
      const handler = (HANDLERS as unknown as Record<RouteId, AnyHandler>)[id];
      app.route({
        ...base,
        handler: async (request: FastifyRequest, reply: FastifyReply) => {
          const input = { params: request.params, query: request.query ?? {}, body: request.body } as unknown as HandlerInput<JsonRouteId>;
          const out = await handler(service, input);
          reply.code(out.status);
          return out.status === 204 ? reply.send() : out.body;
        },
      });
    }
  }
  return { app, routes };
}

/** Before validation: query strings converted to their schema's types; an optional body defaults to {}. */
function prepareInput(route: RouteDef, query: TSchema) {
  const bodyRequired = ((route.body as { required?: string[] } | undefined)?.required ?? []).length > 0;
  return (request: FastifyRequest, _reply: FastifyReply, done: (e?: Error) => void): void => {
    if (request.query !== undefined) request.query = Value.Convert(query, request.query);
    if (route.body === undefined) {
      if (request.body !== undefined && request.body !== null) {
        done(new HttpError(400, 'bad-request', `${route.method} ${route.path} takes no request body`));
        return;
      }
    } else if ((request.body === undefined || request.body === null) && !bodyRequired) {
      request.body = {};
    }
    done();
  };
}

/** Origin (WebSocket upgrades) and token checks; the local socket is admin without a token. */
function authorize(service: DaemonService, request: FastifyRequest, options: ApiServerOptions): void {
  const found = routeOf(request);
  if (found === undefined) return;
  const [, route] = found;
  if (route.kind === 'websocket' && request.ws) checkOrigin(request, options.allowedOrigins ?? []);
  if (options.transport === 'socket') return;
  const role = authenticate(service, request, route);
  if (ROLE_RANK[role] < ROLE_RANK[route.role]) {
    throw new HttpError(403, 'forbidden', `This needs the "${route.role}" role; the token has "${role}"`);
  }
}

function bearerToken(request: FastifyRequest, route: RouteDef): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (m === null) throw new HttpError(401, 'unauthorized', 'The Authorization header must be "Bearer <token>"');
    return m[1];
  }
  if (route.kind === 'sse' || route.kind === 'websocket') {
    const token = (request.query as { token?: unknown } | undefined)?.token;
    if (typeof token === 'string' && token !== '') return token;
  }
  return undefined;
}

function authenticate(service: DaemonService, request: FastifyRequest, route: RouteDef): Role {
  const token = bearerToken(request, route);
  if (token === undefined) throw new HttpError(401, 'unauthorized', 'Missing API token: send "Authorization: Bearer <token>" (create one with `tshv token create`)');
  const role = service.authenticate(token);
  if (role === undefined) throw new HttpError(401, 'unauthorized', 'Invalid or revoked API token');
  return role;
}

/** Browsers send Origin on WebSocket upgrades and enforce nothing: a page from elsewhere must not
 *  reach a console with the user's token (RFC 6455 §10.2). Same origin, or configured, only. */
function checkOrigin(request: FastifyRequest, allowed: readonly string[]): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  if (allowed.includes(origin)) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host !== undefined && host === request.headers.host) return;
  throw new HttpError(403, 'forbidden', `WebSocket from origin ${origin} is not allowed (see tshv daemon --allow-origin)`);
}

function serveEvents(
  service: DaemonService, request: FastifyRequest, reply: FastifyReply, keepAliveMs: number, enders: Set<() => void>,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  // A comment first: the client knows it is subscribed (HTML Living Standard §9.2.6: lines
  // starting with ":" are ignored).
  res.write(': subscribed\n\n');
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    unsubscribe();
    enders.delete(end);
    if (!res.writableEnded) res.end();
  };
  const unsubscribe = service.subscribe((event) => {
    if (!ended) res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  });
  const timer = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
  timer.unref();
  enders.add(end);
  request.raw.on('close', end);
  res.on('error', end);
}

/** Guest output to binary frames, frames (binary or text) to the guest. Closing either side ends
 *  the other; closing the WebSocket only detaches (the VMM keeps the guest running). */
function pipeConsole(socket: WebSocket, stream: Duplex): void {
  let paused = false;
  stream.on('data', (chunk: Buffer) => {
    socket.send(chunk, { binary: true }, () => {
      if (paused && socket.bufferedAmount < CONSOLE_HIGH_WATER_BYTES / 2) {
        paused = false;
        stream.resume();
      }
    });
    if (socket.bufferedAmount > CONSOLE_HIGH_WATER_BYTES) {
      paused = true;
      stream.pause();
    }
  });
  const closeSocket = (code: number, reason: string): void => {
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, reason);
  };
  stream.on('end', () => closeSocket(1000, 'console closed'));
  stream.on('close', () => closeSocket(1000, 'console closed'));
  stream.on('error', () => closeSocket(1011, 'console error'));
  socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    // Keystrokes are never dropped: when the VMM holds the console back (its guest reads slower
    // than the client types), stop reading the WebSocket until the console connection drains.
    if (!stream.destroyed && stream.writable && !stream.write(bytes)) socket.pause();
  });
  stream.on('drain', () => socket.resume());
  socket.on('close', () => {
    stream.end();
    // Give the last keystrokes a moment to leave, then let go of the console connection.
    setTimeout(() => stream.destroy(), 1000).unref();
  });
}
