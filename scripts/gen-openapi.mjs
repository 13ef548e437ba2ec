// Rewrites api/openapi.json from the route table (src/api/openapi.ts), from the compiled output.
// Usage: npm run build && node scripts/gen-openapi.mjs [--dist DIR]
// The test src/api/openapi.test.ts fails while the checked-in file differs from what this writes.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
const i = process.argv.indexOf('--dist');
const dist = resolve(i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : join(root, 'dist'));
const { openApiText } = await import(pathToFileURL(join(dist, 'api', 'openapi.js')).href);
const out = join(root, 'api', 'openapi.json');
writeFileSync(out, openApiText());
console.log(`wrote ${out}`);
