// Keeps api/openapi.json true: it must equal what the route table generates, the running server
// must serve exactly the documented operations, and GET /api/v1/openapi.json serves the same text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument, openApiText } from '../openapi.js';
import { buildApiServer } from './server.js';
import { FakeDaemon } from './testing/fake-daemon.js';

// <out>/api/server/openapi.test.js → <repo>/api/openapi.json
const checkedIn = fileURLToPath(new URL('../../../api/openapi.json', import.meta.url));

test('api/openapi.json is what the route table generates (run: node scripts/gen-openapi.mjs)', () => {
  assert.equal(readFileSync(checkedIn, 'utf8'), openApiText(), 'api/openapi.json is stale: npm run build && node scripts/gen-openapi.mjs');
});

test('every route of the running server is documented, and every documented operation is served', async () => {
  const { app, routes } = await buildApiServer(new FakeDaemon(), { transport: 'socket' });
  try {
    const served = routes.map((r) => r.replace(/:([A-Za-z0-9_]+)/g, '{$1}')).sort();
    const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    assert.deepEqual(served, documented);
    const res = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.body), JSON.parse(readFileSync(checkedIn, 'utf8')));
  } finally {
    await app.close();
  }
});

test('the document is OpenAPI 3.1 with an operationId, a role and responses on every operation', () => {
  const doc = buildOpenApiDocument() as { openapi: string; paths: Record<string, Record<string, { operationId?: string; 'x-tshv-role'?: string; responses?: object }>> };
  assert.equal(doc.openapi, '3.1.0');
  const ids = new Set<string>();
  for (const ops of Object.values(doc.paths)) {
    for (const op of Object.values(ops)) {
      assert.ok(op.operationId !== undefined && !ids.has(op.operationId));
      ids.add(op.operationId);
      assert.match(op['x-tshv-role'] ?? '', /^(viewer|operator|admin)$/);
      assert.ok(op.responses !== undefined);
    }
  }
  // No TypeBox internals leak into the document.
  assert.ok(!openApiText().includes('[Kind]'));
});
