// The OpenAPI 3.1 document of the management API, generated from the route table and its TypeBox
// schemas (OpenAPI 3.1 §4.8.24: Schema Objects are JSON Schema 2020-12, so TypeBox output goes in
// as is). The generated text is checked in at api/openapi.json; `node scripts/gen-openapi.mjs`
// rewrites it and a test fails when the two differ.

import type { TSchema } from '@sinclair/typebox';
import { ApiError, ApiEvent, HostInfo } from './schema/common.js';
import { API_PREFIX, ROUTES, type RouteDef } from './schema/routes.js';
import { effectiveQuery } from './schema/route-types.js';
import { CreatedToken, Token, TokenList, TokenSpec } from './schema/token.js';
import { DiskSpec, NicSpec, StopOptions, Vm, VmList, VmSpec, VmState } from './schema/vm.js';

export const OPENAPI_VERSION = '3.1.0';
export const API_DOCUMENT_VERSION = '0.1.0';

/** Named schemas, referenced from operations by `$ref` where an operation uses the very same object. */
const COMPONENTS: Readonly<Record<string, TSchema>> = {
  ApiError, ApiEvent, CreatedToken, DiskSpec, HostInfo, NicSpec, StopOptions, Token, TokenList, TokenSpec,
  Vm, VmList, VmSpec, VmState,
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Plain JSON of a schema: TypeBox's symbol keys (Kind, Optional) do not survive stringify. */
function plain(schema: TSchema): Json {
  return JSON.parse(JSON.stringify(schema)) as Json;
}

/** A top-level component by reference, anything else inline; nested components are inlined. */
function schemaRef(schema: TSchema): Json {
  for (const [name, component] of Object.entries(COMPONENTS)) {
    if (component === schema) return { $ref: `#/components/schemas/${name}` };
  }
  return plain(schema);
}

interface ObjectSchema { properties?: Record<string, TSchema>; required?: string[] }

function parameters(route: RouteDef): Json[] {
  const out: Json[] = [];
  const add = (where: 'path' | 'query', schema: TSchema | undefined): void => {
    const obj = schema as ObjectSchema | undefined;
    for (const [name, prop] of Object.entries(obj?.properties ?? {})) {
      const p: { [key: string]: Json } = { name, in: where, required: where === 'path' || (obj?.required ?? []).includes(name) };
      const description = (prop as { description?: unknown }).description;
      if (typeof description === 'string') p['description'] = description;
      p['schema'] = plain(prop);
      out.push(p);
    }
  };
  add('path', route.params);
  add('query', effectiveQuery(route));
  return out;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  101: 'Switching to the WebSocket protocol', 200: 'OK', 201: 'Created', 204: 'No content',
  400: 'Invalid request (the message names the field)', 401: 'Missing or unknown token',
  403: 'The token\'s role does not allow this', 404: 'No such VM, token or route',
  409: 'The action does not fit the VM\'s state (or the name is taken)',
};

function responses(route: RouteDef): Json {
  const out: { [key: string]: Json } = {};
  for (const [status, schema] of Object.entries(route.responses)) {
    const code = Number(status);
    const r: { [key: string]: Json } = { description: STATUS_TEXT[code] ?? String(code) };
    if (code === 200 && route.kind === 'sse') {
      r['content'] = { 'text/event-stream': { schema: { type: 'string', description: 'event: <type>, data: ApiEvent JSON' } } };
    } else if (code !== 204 && code !== 101) {
      r['content'] = { 'application/json': { schema: schemaRef(schema) } };
    }
    out[status] = r;
  }
  return out;
}

function operation(route: RouteDef): Json {
  const op: { [key: string]: Json } = {
    operationId: route.operationId,
    summary: route.summary,
    'x-tshv-role': route.role,
  };
  const params = parameters(route);
  if (params.length > 0) op['parameters'] = params;
  if (route.body !== undefined) {
    const required = ((route.body as ObjectSchema).required ?? []).length > 0;
    op['requestBody'] = { required, content: { 'application/json': { schema: schemaRef(route.body) } } };
  }
  op['responses'] = responses(route);
  return op;
}

/** The whole document as a plain object, keys in a stable order. */
export function buildOpenApiDocument(): Json {
  const paths: { [path: string]: { [method: string]: Json } } = {};
  for (const route of Object.values(ROUTES) as RouteDef[]) {
    const path = `${API_PREFIX}${route.path}`;
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  const schemas: { [name: string]: Json } = {};
  for (const name of Object.keys(COMPONENTS).sort()) schemas[name] = plain(COMPONENTS[name]!);
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'tshv management API',
      version: API_DOCUMENT_VERSION,
      description: 'The tshv daemon\'s REST API. On the local Unix socket ($TSHV_HOME/tshvd.sock, mode 0600) every request '
        + 'is admin without a token; over HTTP send "Authorization: Bearer <secret>" (created with `tshv token create`). '
        + 'Roles: viewer reads, operator also runs VM lifecycle actions and consoles, admin also manages tokens '
        + '(x-tshv-role on each operation). Errors are {"error":{"code","message"}}.',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas,
    },
  };
}

/** The checked-in text: two-space JSON with a final newline. */
export function openApiText(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}
