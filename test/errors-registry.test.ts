/** docs/errors.md and src/errors/registry.ts list exactly the same codes, statuses, exit codes and messages. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ERRORS } from '../src/errors/index.js';
import { repoRoot } from './support/paths.js';

interface DocRow {
  readonly status: number;
  readonly exit: number;
  readonly message: string;
}

/** Every `| \`ERR_...\` | status | exit | message |` row of docs/errors.md. */
function documentedCodes(): Map<string, DocRow> {
  const text = readFileSync(path.join(repoRoot, 'docs', 'errors.md'), 'utf8');
  const rows = new Map<string, DocRow>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('| `ERR_')) continue;
    const match = /^\| `(ERR_[A-Z0-9_]+)` \| (\d{3}) \| (\d+) \| (.+?) \|$/.exec(line);
    assert.ok(match, `malformed row in docs/errors.md: ${line}`);
    const [, code, status, exit, message] = match;
    assert.ok(!rows.has(code!), `${code} is listed twice in docs/errors.md`);
    rows.set(code!, { status: Number(status), exit: Number(exit), message: message! });
  }
  return rows;
}

describe('docs/errors.md', () => {
  const documented = documentedCodes();

  it('lists every registry code with its status, exit code and message', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.deepEqual(
        documented.get(code),
        { status: spec.status, exit: spec.exit, message: spec.message },
        code,
      );
    }
  });

  it('lists nothing the registry does not have', () => {
    const registry = new Set(Object.keys(ERRORS));
    for (const code of documented.keys())
      assert.ok(registry.has(code), `${code} is documented but not in the registry`);
    assert.equal(documented.size, registry.size);
  });
});
