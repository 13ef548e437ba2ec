// The API server over the fake daemon through fastify's inject: routes, validation messages, auth
// and roles, error mapping. Real sockets, SSE and the console are in listen.test.ts.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { Value } from '@sinclair/typebox/value';
import { buildApiServer } from './server.js';
import { FakeDaemon } from './testing/fake-daemon.js';
import { Vm, VmList } from '../schema/vm.js';
import { HostInfo, ApiError } from '../schema/common.js';
import { CreatedToken, TokenList } from '../schema/token.js';
import { registerSchemaFormats } from './testing/formats.js';

registerSchemaFormats();

type Inject = (opts: { method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH'; url: string; payload?: unknown; headers?: Record<string, string> }) =>
  Promise<{ statusCode: number; body: string; headers: Record<string, unknown> }>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are checked field by field
function json(res: { body: string }): any {
  return JSON.parse(res.body);
}

describe('API server over the local socket (admin, no token)', () => {
  const fake = new FakeDaemon();
  let app: FastifyInstance;
  let req: Inject;
  before(async () => {
    app = (await buildApiServer(fake, { transport: 'socket' })).app;
    req = (o) => app.inject(o as never);
  });
  after(() => app.close());

  test('create, list, show, lifecycle, delete; answers match the schemas', async () => {
    let res = await req({ method: 'POST', url: '/api/v1/vms', payload: { name: 'web', cpus: 2, memoryMib: 256 } });
    assert.equal(res.statusCode, 201, res.body);
    assert.ok(Value.Check(Vm, json(res)), res.body);
    assert.equal(json(res).spec.cpus, 2);
    res = await req({ method: 'GET', url: '/api/v1/vms' });
    assert.equal(res.statusCode, 200);
    assert.ok(Value.Check(VmList, json(res)));
    assert.equal(json(res).vms.length, 1);
    const id = json(res).vms[0].id as string;
    res = await req({ method: 'GET', url: `/api/v1/vms/${id}` });
    assert.equal(json(res).name, 'web');
    for (const [verb, state] of [['start', 'running'], ['pause', 'paused'], ['resume', 'running'], ['reboot', 'running'], ['stop', 'stopped']] as const) {
      res = await req({ method: 'POST', url: `/api/v1/vms/web/${verb}` });
      assert.equal(res.statusCode, 200, `${verb}: ${res.body}`);
      assert.ok(Value.Check(Vm, json(res)));
      assert.equal(json(res).state, state, verb);
    }
    res = await req({ method: 'POST', url: '/api/v1/vms/web/stop', payload: { timeoutMs: 5 } });
    assert.equal(res.statusCode, 409);
    assert.deepEqual(json(res), { error: { code: 'conflict', message: 'Cannot stop VM "web": it is stopped' } });
    res = await req({ method: 'DELETE', url: '/api/v1/vms/web' });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    res = await req({ method: 'GET', url: '/api/v1/vms/web' });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(json(res), { error: { code: 'not-found', message: 'VM "web" not found' } });
  });

  test('delete of a running VM: 409, then ?force=true deletes it', async () => {
    await req({ method: 'POST', url: '/api/v1/vms', payload: { name: 'busy' } });
    await req({ method: 'POST', url: '/api/v1/vms/busy/start' });
    let res = await req({ method: 'DELETE', url: '/api/v1/vms/busy' });
    assert.equal(res.statusCode, 409);
    res = await req({ method: 'DELETE', url: '/api/v1/vms/busy?force=false' });
    assert.equal(res.statusCode, 409);
    res = await req({ method: 'DELETE', url: '/api/v1/vms/busy?force=true' });
    assert.equal(res.statusCode, 204, res.body);
  });

  test('host info and tokens', async () => {
    let res = await req({ method: 'GET', url: '/api/v1/host' });
    assert.ok(Value.Check(HostInfo, json(res)), res.body);
    res = await req({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'ci', role: 'viewer' } });
    assert.equal(res.statusCode, 201);
    assert.ok(Value.Check(CreatedToken, json(res)));
    const id = json(res).token.id as string;
    res = await req({ method: 'GET', url: '/api/v1/tokens' });
    assert.ok(Value.Check(TokenList, json(res)));
    res = await req({ method: 'DELETE', url: `/api/v1/tokens/${id}` });
    assert.equal(res.statusCode, 204);
    res = await req({ method: 'DELETE', url: `/api/v1/tokens/${id}` });
    assert.equal(res.statusCode, 404);
  });

  test('bad requests are 4xx with a message naming the field, never 5xx', async () => {
    await req({ method: 'POST', url: '/api/v1/vms', payload: { name: 'exists' } });
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/api/v1/vms', { name: 'a', bogus: 1 }, 400, /Unknown field "bogus"/],
      ['POST', '/api/v1/vms', { name: 'a', cpus: '2' }, 400, /Field "cpus" must be integer/],
      ['POST', '/api/v1/vms', { name: 'a', cpus: 0 }, 400, /Field "cpus" must be >= 1/],
      ['POST', '/api/v1/vms', { name: 'a', cpus: 33 }, 400, /Field "cpus" must be <= 32/],
      ['POST', '/api/v1/vms', { name: 'a', cpus: 1.5 }, 400, /"cpus" must be integer/],
      ['POST', '/api/v1/vms', { name: 'a', memoryMib: 1 }, 400, /"memoryMib" must be >= 16/],
      ['POST', '/api/v1/vms', { name: 'Bad_Name' }, 400, /Field "name" is invalid: Unique VM name/],
      ['POST', '/api/v1/vms', { name: 'a', engine: 'qemu' }, 400, /"engine" must be one of "auto", "soft", "kvm"/],
      ['POST', '/api/v1/vms', { name: 'a', disks: [{ path: '/x', bogus: true }] }, 400, /Unknown field "disks\[0\].bogus"/],
      ['POST', '/api/v1/vms', { name: 'a', disks: [{}] }, 400, /Missing field "disks\[0\].path"/],
      ['POST', '/api/v1/vms', { name: 'a', nics: [{ tap: 'tap0', mac: 'zz' }] }, 400, /"nics\[0\].mac"/],
      ['POST', '/api/v1/vms', { cpus: 1 }, 400, /Missing field "name"/],
      ['POST', '/api/v1/vms', [], 400, /request body must be object/i],
      ['POST', '/api/v1/vms', 'text', 415, /Unsupported Media Type/],
      ['POST', '/api/v1/vms', { name: 'a', autostart: 'yes' }, 400, /"autostart" must be boolean/],
      ['POST', '/api/v1/vms', { name: 'exists' }, 409, /already exists/],
      ['POST', '/api/v1/vms', { name: 'a', kernel: '/nonexistent' }, 400, /does not exist/],
      ['POST', '/api/v1/vms/exists/stop', { timeoutMs: -1 }, 400, /"timeoutMs" must be >= 0/],
      ['POST', '/api/v1/vms/exists/stop', { timeoutMs: 1e9 }, 400, /"timeoutMs" must be <= 600000/],
      ['POST', '/api/v1/vms/exists/stop', { wait: true }, 400, /Unknown field "wait"/],
      ['POST', '/api/v1/vms/exists/start', { now: true }, 400, /takes no request body/],
      ['POST', '/api/v1/vms/exists/pause', undefined, 409, /Cannot pause VM "exists": it is stopped/],
      ['GET', '/api/v1/vms/nope', undefined, 404, /VM "nope" not found/],
      ['POST', '/api/v1/vms/nope/start', undefined, 404, /VM "nope" not found/],
      ['GET', `/api/v1/vms/${'x'.repeat(65)}`, undefined, 400, /Path parameter "vm" must NOT have more than 64 characters/],
      ['DELETE', '/api/v1/vms/exists?force=maybe', undefined, 400, /Query parameter "force" must be boolean/],
      ['DELETE', '/api/v1/vms/exists?cascade=1', undefined, 400, /Unknown query parameter "cascade"/],
      ['DELETE', '/api/v1/tokens/not-a-uuid', undefined, 400, /Path parameter "token" must match format "uuid"/],
      ['POST', '/api/v1/tokens', { name: 'x', role: 'root' }, 400, /"role" must be one of "admin", "operator", "viewer"/],
      ['POST', '/api/v1/tokens', { name: 'bad name', role: 'viewer' }, 400, /"name"/],
      ['GET', '/api/v1/nothing', undefined, 404, /No route GET \/api\/v1\/nothing/],
      ['PUT', '/api/v1/vms', { name: 'a' }, 404, /No route PUT/],
      ['GET', '/api/v1/vms/exists/console', undefined, 400, /WebSocket/],
    ];
    for (const [method, url, payload, status, message] of cases) {
      const res = await req({ method: method as 'GET', url, ...(payload !== undefined ? { payload } : {}) });
      assert.equal(res.statusCode, status, `${method} ${url} ${JSON.stringify(payload)}: ${res.body}`);
      const body = json(res);
      assert.ok(Value.Check(ApiError, body), res.body);
      assert.match(body.error.message, message, `${method} ${url} ${JSON.stringify(payload)}`);
      assert.ok(!body.error.message.includes('\n'));
    }
  });

  test('malformed bodies: invalid JSON, wrong content type, huge body: 4xx', async () => {
    const bad = [
      { body: '{"name":', type: 'application/json' },
      { body: '', type: 'application/json' },
      { body: 'name=a', type: 'application/x-www-form-urlencoded' },
      { body: `{"name":"${'a'.repeat(2 * 1024 * 1024)}"}`, type: 'application/json' },
    ];
    for (const b of bad) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/vms', payload: b.body, headers: { 'content-type': b.type } });
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${b.type}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      assert.ok(Value.Check(ApiError, json(res)), res.body);
    }
  });

  test('odd URLs and router errors are 4xx ApiErrors', async () => {
    const urls = [`/api/v1/vms/${'x'.repeat(150)}`, '/api/v1/vms/%E0%A4%A', '/%', '/api/v1/vms/%00', '/api/v1/vms/a%2Fb',
      '/api/v1/vms/exists/start?x=1', '/api/v1//vms', '/api/v1/vms/?', '/api/v1/vms/exists?force=true&force=false',
      '/api/v1/events?token=a&token=b', '/api/v1/host?verbose=1'];
    for (const url of urls) {
      for (const method of ['GET', 'POST', 'DELETE'] as const) {
        const res = await req({ method, url });
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${method} ${url}: ${res.statusCode} ${res.body}`);
        assert.ok(Value.Check(ApiError, json(res)), `${method} ${url}: ${res.body}`);
      }
    }
  });

  test('random bodies: never a 5xx', async () => {
    // A small deterministic generator (xorshift32): the same cases on every run.
    let x = 0x2545f491;
    const rnd = (n: number): number => {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      return (x >>> 0) % n;
    };
    const values: unknown[] = [null, true, false, 0, -1, 1, 1.5, 2 ** 53, -(2 ** 31), '', 'a', 'web', '../x', 'x'.repeat(5000), [], [1], {}, { a: 1 }, [{}], [{ path: '' }], [{ path: '/x', readOnly: 'no' }], [{ tap: 'x'.repeat(16) }]];
    const fields = ['name', 'cpus', 'memoryMib', 'kernel', 'initrd', 'append', 'disks', 'nics', 'engine', 'autostart', 'cpuWeight', 'cpuCapPercent', 'memoryLimitMib', 'timeoutMs', 'role', 'bogus'];
    const urls: Array<['POST', string]> = [['POST', '/api/v1/vms'], ['POST', '/api/v1/vms/exists/stop'], ['POST', '/api/v1/tokens']];
    for (let i = 0; i < 300; i++) {
      const body: Record<string, unknown> = {};
      const n = rnd(4);
      for (let k = 0; k < n; k++) body[fields[rnd(fields.length)]!] = values[rnd(values.length)];
      if (rnd(2) === 0) body['name'] = `r${i}`;
      const [method, url] = urls[rnd(urls.length)]!;
      const res = await req({ method, url, payload: body });
      assert.ok(res.statusCode < 500, `${url} ${JSON.stringify(body).slice(0, 300)}: ${res.statusCode} ${res.body}`);
      if (res.statusCode >= 400) assert.ok(Value.Check(ApiError, json(res)), res.body);
    }
  });

  test('a daemon bug is a 500 with a generic message', async () => {
    fake.failNext = true;
    const res = await req({ method: 'GET', url: '/api/v1/vms' });
    assert.equal(res.statusCode, 500);
    assert.equal(json(res).error.code, 'internal');
  });
});

describe('API server over HTTP: tokens and roles', () => {
  const fake = new FakeDaemon();
  let app: FastifyInstance;
  const secrets: Record<string, string> = {};
  before(async () => {
    app = (await buildApiServer(fake, { transport: 'http' })).app;
    for (const role of ['viewer', 'operator', 'admin'] as const) secrets[role] = fake.createToken({ name: role, role }).secret;
    fake.createVm({ name: 'vm1' });
  });
  after(() => app.close());

  const call = (method: string, url: string, role?: string, payload?: unknown) => app.inject({
    method: method as 'GET', url,
    headers: role === undefined ? {} : { authorization: `Bearer ${secrets[role] ?? role}` },
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });

  test('no token or a bad one: 401', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'Basic abc' }, { authorization: 'Bearer' }]) {
      const res = await app.inject({ method: 'GET', url: '/api/v1/vms', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(json(res).error.code, 'unauthorized');
    }
    // ?token= is for streams only (browsers); not on plain JSON routes.
    const res = await app.inject({ method: 'GET', url: `/api/v1/vms?token=${secrets['admin']}` });
    assert.equal(res.statusCode, 401);
  });

  test('auth comes before validation: no token and a bad body is 401', async () => {
    const res = await call('POST', '/api/v1/vms', undefined, { bogus: 1 });
    assert.equal(res.statusCode, 401);
  });

  test('viewer reads only; operator runs lifecycle; admin manages tokens', async () => {
    const expect: Array<[string, string, unknown, Record<string, number>]> = [
      ['GET', '/api/v1/vms', undefined, { viewer: 200, operator: 200, admin: 200 }],
      ['GET', '/api/v1/vms/vm1', undefined, { viewer: 200, operator: 200, admin: 200 }],
      ['GET', '/api/v1/host', undefined, { viewer: 200, operator: 200, admin: 200 }],
      ['POST', '/api/v1/vms', { name: 'x' }, { viewer: 403 }],
      ['POST', '/api/v1/vms/vm1/start', undefined, { viewer: 403, operator: 200 }],
      ['POST', '/api/v1/vms/vm1/pause', undefined, { viewer: 403, operator: 200 }],
      ['POST', '/api/v1/vms/vm1/resume', undefined, { viewer: 403, admin: 200 }],
      ['POST', '/api/v1/vms/vm1/force-stop', undefined, { viewer: 403, operator: 200 }],
      ['DELETE', '/api/v1/vms/vm1', undefined, { viewer: 403 }],
      ['GET', '/api/v1/tokens', undefined, { viewer: 403, operator: 403, admin: 200 }],
      ['POST', '/api/v1/tokens', { name: 'n', role: 'viewer' }, { viewer: 403, operator: 403, admin: 201 }],
      ['DELETE', '/api/v1/tokens/00000000-0000-4000-8000-000000000000', undefined, { viewer: 403, operator: 403, admin: 404 }],
    ];
    for (const [method, url, payload, byRole] of expect) {
      for (const [role, status] of Object.entries(byRole)) {
        const res = await call(method, url, role, payload);
        assert.equal(res.statusCode, status, `${role} ${method} ${url}: ${res.body}`);
        if (status === 403) assert.match(json(res).error.message, /needs the "(operator|admin)" role; the token has "viewer|operator"/);
      }
    }
  });

  test('a revoked token stops working', async () => {
    const created = fake.createToken({ name: 'tmp', role: 'admin' });
    let res = await app.inject({ method: 'GET', url: '/api/v1/vms', headers: { authorization: `Bearer ${created.secret}` } });
    assert.equal(res.statusCode, 200);
    fake.revokeToken(created.token.id);
    res = await app.inject({ method: 'GET', url: '/api/v1/vms', headers: { authorization: `Bearer ${created.secret}` } });
    assert.equal(res.statusCode, 401);
  });

  test('no CORS headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/vms', headers: { origin: 'https://evil.example', authorization: `Bearer ${secrets['admin']}` } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const pre = await app.inject({ method: 'OPTIONS', url: '/api/v1/vms', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
    assert.ok(pre.statusCode >= 400 && pre.statusCode < 500);
  });
});
