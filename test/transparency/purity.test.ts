/**
 * The verify core stays free of server, database, file-system and network dependencies (issue 10: "keep the
 * verifying code free of server, database and network dependencies"): every module of src/transparency/
 * imports only node:crypto, the error registry and its sibling modules. Scans the compiled and the source
 * files' import and dynamic-import specifiers, so a new dependency fails here before it ships.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/transparency → the repository root. */
const root = path.resolve(here, '..', '..', '..');
const ALLOWED = new Set(['node:crypto', '../errors/index.js']);

/** Every module specifier of a TypeScript or JavaScript text: static, re-export, side-effect and dynamic. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\brequire\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) out.push(match[1] as string);
  return out;
}

async function check(dir: string, extension: string): Promise<number> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith(extension) && !f.endsWith('.d.ts'));
  assert.ok(files.length >= 10, `expected the transparency modules in ${dir}`);
  for (const file of files) {
    const text = await fs.readFile(path.join(dir, file), 'utf8');
    assert.doesNotMatch(text, /\bimport\s*\(\s*[^'"`\s]/, `${file}: computed dynamic import`);
    for (const spec of specifiers(text)) {
      const sibling = /^\.\/[a-z0-9-]+\.js$/.test(spec);
      assert.ok(sibling || ALLOWED.has(spec), `${file} imports ${spec}: the verify core must stay pure`);
    }
  }
  return files.length;
}

test('src/transparency imports only node:crypto, ../errors and sibling modules', async () => {
  const sources = await check(path.join(root, 'src', 'transparency'), '.ts');
  const compiled = await check(path.join(root, 'dist', 'src', 'transparency'), '.js');
  assert.equal(compiled, sources, 'every source module is compiled and checked');
});

test('the scanner sees every import form', () => {
  const text = [
    "import crypto from 'node:crypto';",
    "import { a, b } from './x.js';",
    "import type { T } from '../store/index.js';",
    "export * from './y.js';",
    "export { z } from 'node:fs';",
    "import 'node:net';",
    "const m = await import('node:http');",
  ].join('\n');
  assert.deepEqual(specifiers(text).sort(), [
    '../store/index.js',
    './x.js',
    './y.js',
    'node:crypto',
    'node:fs',
    'node:http',
    'node:net',
  ]);
});
