// Every failure becomes one ApiError body `{ error: { code, message } }` with a one-line message:
// DaemonError codes map to statuses, ajv validation errors name the field, fastify's own client
// errors (bad JSON, wrong content type, too large) stay 4xx. Only a bug in the daemon is a 500.

import type { ApiError } from '../schema/common.js';
import { DaemonError } from '../../daemon/service.js';

export type ApiErrorCode = ApiError['error']['code'];

/** An error the server raises itself (auth, origin, route misuse). */
export class HttpError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;
  constructor(status: number, code: ApiErrorCode, message: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
  }
}

export const DAEMON_ERROR_STATUS: Readonly<Record<DaemonError['code'], number>> = {
  'bad-request': 400, unauthorized: 401, forbidden: 403, 'not-found': 404, conflict: 409,
};

/** One ajv error as fastify hands it over (ajv's ErrorObject with `verbose: true`). */
interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
  parentSchema?: Record<string, unknown>;
}

const WHERE: Readonly<Record<string, string>> = {
  body: 'request body', querystring: 'query parameter', params: 'path parameter', headers: 'header',
};

/** `/disks/0/path` → `disks[0].path`. */
export function fieldName(instancePath: string): string {
  let out = '';
  for (const part of instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out === '' ? key : `.${key}`;
  }
  return out;
}

function constsOf(schema: Record<string, unknown> | undefined): string[] | undefined {
  const anyOf = schema?.['anyOf'];
  if (!Array.isArray(anyOf)) return undefined;
  const consts = anyOf.map((s: unknown) => (s as { const?: unknown }).const);
  return consts.every((c) => c !== undefined) ? consts.map((c) => JSON.stringify(c)) : undefined;
}

/** One line naming the field and what is wrong with it. */
export function validationMessage(context: string | undefined, errors: readonly AjvError[]): string {
  const where = WHERE[context ?? ''] ?? 'request';
  // With allErrors off ajv stops at the first failure; a failed union reports its branches first
  // and the union last: the union says it best ("one of ...").
  const e = errors.find((x) => x.keyword === 'anyOf') ?? errors[0];
  if (e === undefined) return `Invalid ${where}`;
  const field = fieldName(e.instancePath);
  const subject = field === '' ? (context === 'body' ? 'The request body' : `The ${where}`) : `${where === 'request body' ? 'Field' : capitalize(where)} "${field}"`;
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(e.params['additionalProperty']);
      const full = field === '' ? name : `${field}.${name}`;
      return `Unknown ${where === 'request body' ? 'field' : where} "${full}"`;
    }
    case 'required': {
      const name = String(e.params['missingProperty']);
      const full = field === '' ? name : `${field}.${name}`;
      return `Missing ${where === 'request body' ? 'field' : where} "${full}"`;
    }
    case 'anyOf': {
      const consts = constsOf(e.parentSchema);
      return consts !== undefined ? `${subject} must be one of ${consts.join(', ')}` : `${subject} has none of the allowed shapes`;
    }
    case 'pattern': {
      const description = e.parentSchema?.['description'];
      return typeof description === 'string' ? `${subject} is invalid: ${description}` : `${subject} ${e.message ?? 'is invalid'}`;
    }
    default:
      return `${subject} ${e.message ?? 'is invalid'}`;
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The status and body for anything thrown while serving a request. */
export function toApiError(e: unknown): { status: number; body: ApiError; internal: boolean } {
  const body = (code: ApiErrorCode, message: string): ApiError => ({ error: { code, message: oneLine(message) } });
  if (e instanceof HttpError) return { status: e.status, body: body(e.code, e.message), internal: false };
  if (e instanceof DaemonError) return { status: DAEMON_ERROR_STATUS[e.code], body: body(e.code, e.message), internal: false };
  const fe = e as { validation?: AjvError[]; validationContext?: string; statusCode?: unknown; message?: unknown; code?: unknown };
  if (Array.isArray(fe.validation)) {
    return { status: 400, body: body('bad-request', validationMessage(fe.validationContext, fe.validation)), internal: false };
  }
  // fastify's client errors: invalid JSON, empty JSON body, unsupported media type, body too large.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code: ApiErrorCode = fe.statusCode === 404 ? 'not-found' : 'bad-request';
    return { status: fe.statusCode, body: body(code, typeof fe.message === 'string' ? fe.message : 'Bad request'), internal: false };
  }
  return { status: 500, body: body('internal', 'Internal error in the tshv daemon (see its log)'), internal: true };
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
