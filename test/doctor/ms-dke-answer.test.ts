/**
 * The MS DKE GET-shape checker against good and bad answers: the conformance key of the shared vectors
 * (its n and e as Office receives them), key ids computed independently with jose, and one bad answer
 * per rule, each of which must be caught.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint } from 'jose';
import { checkKeyAnswer, type KeyAnswer, type KeyAnswerExpectations } from '../../src/doctor/index.js';
import { sharedDir } from '../support/paths.js';

const BASE = 'https://dke.contoso.com';
const NAME = 'contoso-confidential';
const NOW = Date.parse('2026-03-01T12:00:00Z');

interface Body {
  key: Record<string, unknown>;
  cache?: Record<string, unknown>;
}

const vector = JSON.parse(
  readFileSync(path.join(sharedDir, 'vectors', 'ms-dke', 'key.json'), 'utf8'),
) as Body;
const n = vector.key.n as string;
const keyId = await calculateJwkThumbprint({
  kty: 'RSA',
  e: 'AQAB',
  n: Buffer.from(n, 'base64').toString('base64url'),
});

function goodBody(): Body {
  return {
    key: { kty: 'RSA', n, e: 65537, alg: 'RS256', kid: `${BASE}/${NAME}/${keyId}` },
    cache: { exp: '2026-03-02T12:00:00' },
  };
}

function answer(body: unknown, overrides: Partial<KeyAnswer> = {}): KeyAnswer {
  return {
    status: 200,
    contentType: 'application/json; charset=utf-8',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...overrides,
  };
}

const expect: KeyAnswerExpectations = { keyName: NAME, baseUrl: BASE, now: NOW };

function problemsOf(a: KeyAnswer, e: Partial<KeyAnswerExpectations> = {}): string[] {
  return checkKeyAnswer(a, { ...expect, ...e }).problems.map((p) => `${p.status}: ${p.text}`);
}

function assertOneProblem(
  a: KeyAnswer,
  status: 'warn' | 'fail',
  pattern: RegExp,
  e: Partial<KeyAnswerExpectations> = {},
): void {
  const problems = problemsOf(a, e);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0] ?? '', new RegExp(`^${status}: ${pattern.source}`));
}

describe('MS DKE GET answer checker', () => {
  it('accepts the reference shape: the conformance key, its key id, a future cache.exp, or no cache', () => {
    const report = checkKeyAnswer(answer(goodBody()), expect);
    assert.deepEqual(report.problems, []);
    assert.equal(report.keyId, keyId);
    assert.equal(report.modulusBits, 2048);
    assert.equal(report.exponent, 65537);
    assert.equal(report.cacheExp, '2026-03-02T12:00:00');
    const uncached = goodBody();
    delete uncached.cache;
    assert.deepEqual(checkKeyAnswer(answer(uncached), expect).problems, []);
    assert.deepEqual(checkKeyAnswer(answer(goodBody()), { ...expect, activeKeyId: keyId }).problems, []);
  });

  it('refuses statuses other than 200, each with its own reason', () => {
    assertOneProblem(answer('', { status: 403 }), 'fail', /403 Forbidden: the key is disabled/);
    assertOneProblem(
      answer('{"error":"ERR_KEY_NOT_FOUND"}', { status: 400 }),
      'fail',
      /400: there is no ms-dke key/,
    );
    assertOneProblem(answer('', { status: 404 }), 'fail', /404: no such route/);
    assertOneProblem(
      answer('', { status: 302, location: 'https://login.example/' }),
      'fail',
      /302 redirect to https:\/\/login\.example\//,
    );
    assertOneProblem(answer('', { status: 502 }), 'fail', /HTTP 502/);
  });

  it('refuses a body that is not the JSON key object', () => {
    assertOneProblem(answer(goodBody(), { contentType: 'text/html' }), 'fail', /Content-Type is text\/html/);
    assertOneProblem(answer(goodBody(), { contentType: undefined }), 'fail', /Content-Type is missing/);
    assertOneProblem(answer('<html>'), 'fail', /the answer is not JSON/);
    assertOneProblem(answer({ keys: [] }), 'fail', /the answer has no "key" object/);
  });

  it('refuses n in base64url, unpadded or too small; warns for more than 2048 bits', () => {
    const body = goodBody();
    body.key.n = Buffer.from(n, 'base64').toString('base64url');
    // The kid still names the right key: only the encoding is wrong.
    assertOneProblem(answer(body), 'fail', /key\.n is base64url/);
    body.key.n = n.replace(/=+$/, '');
    assertOneProblem(answer(body), 'fail', /key\.n is not standard padded base64/);

    const small = Buffer.alloc(128, 0xff).toString('base64');
    const smallBody = goodBody();
    smallBody.key.n = small;
    const problems = problemsOf(answer(smallBody));
    assert.match(problems[0] ?? '', /^fail: key\.n is a 1024-bit modulus/);
    assert.ok(
      problems.some((p) => /names another key/.test(p)),
      problems.join('\n'),
    );
  });

  it('warns for RSA-3072 (unverified with Office) when everything else is right', async () => {
    const big = Buffer.concat([Buffer.from([0xc0]), Buffer.alloc(383, 0x11)]);
    const id = await calculateJwkThumbprint({ kty: 'RSA', e: 'AQAB', n: big.toString('base64url') });
    const body = goodBody();
    body.key.n = big.toString('base64');
    body.key.kid = `${BASE}/${NAME}/${id}`;
    assertOneProblem(answer(body), 'warn', /RSA-3072: accepted, but only RSA-2048/);
  });

  it('refuses e as a string or not an RSA exponent; warns for an unusual one', () => {
    const body = goodBody();
    body.key.e = 'AQAB';
    assertOneProblem(answer(body), 'fail', /key\.e is a string/);
    body.key.e = 65536;
    assertOneProblem(answer(body), 'fail', /key\.e is 65536: not a usable RSA exponent/);
    body.key.e = 3;
    const problems = problemsOf(answer(body));
    assert.match(problems[0] ?? '', /^warn: key\.e is 3/);
    assert.match(problems[1] ?? '', /^fail: key\.kid names another key/); // the thumbprint covers e
  });

  it('refuses a wrong kty or alg', () => {
    const body = goodBody();
    body.key.alg = 'RSA-OAEP-256';
    assertOneProblem(answer(body), 'fail', /key\.alg is "RSA-OAEP-256", not "RS256"/);
    const ec = goodBody();
    ec.key.kty = 'EC';
    assertOneProblem(answer(ec), 'fail', /key\.kty is "EC"/);
  });

  it('refuses a kid that does not match the label URL, with the likely cause', () => {
    const cases: [string, RegExp][] = [
      [`${BASE}//${NAME}/${keyId}`, /holds "\/\/": a trailing slash/],
      [`http://dke.contoso.com/${NAME}/${keyId}`, /says http although clients use https/],
      [
        `https://internal-host:8443/${NAME}/${keyId}`,
        /must start with https:\/\/dke\.contoso\.com\/contoso-confidential\//,
      ],
      [`${BASE}/${NAME.toUpperCase()}/${keyId}`, /must start with/],
    ];
    for (const [kid, reason] of cases) {
      const body = goodBody();
      body.key.kid = kid;
      assertOneProblem(
        answer(body),
        'fail',
        new RegExp(`key\\.kid .* does not match the label URL .*${reason.source}`),
      );
    }
    const query = goodBody();
    query.key.kid = `${BASE}/${NAME}/${keyId}?protocol-version=2`;
    assertOneProblem(answer(query), 'fail', /key\.kid ends in .*, not a key id/);
    const missing = goodBody();
    delete missing.key.kid;
    assertOneProblem(answer(missing), 'fail', /key\.kid is missing/);
  });

  it('refuses a kid whose key id is not the key served, or not the store active version', () => {
    const body = goodBody();
    body.key.kid = `${BASE}/${NAME}/${'A'.repeat(43)}`;
    assertOneProblem(answer(body), 'fail', /key\.kid names another key than the one served/);
    assertOneProblem(
      answer(goodBody()),
      'fail',
      /the service serves key id .*, but the store's active version is B{43}/,
      { activeKeyId: 'B'.repeat(43) },
    );
  });

  it('refuses a malformed or past cache.exp', () => {
    for (const exp of ['2026-03-02T12:00:00Z', '2026-03-02 12:00:00', 1772539200, '2026-13-40T12:00:00']) {
      const body = goodBody();
      body.cache = { exp };
      const problems = problemsOf(answer(body));
      assert.equal(problems.length, 1, `${String(exp)}: ${problems.join('\n')}`);
      assert.match(problems[0] ?? '', /^fail: cache\.exp/);
    }
    const past = goodBody();
    past.cache = { exp: '2026-03-01T11:59:59' };
    assertOneProblem(answer(past), 'fail', /cache\.exp 2026-03-01T11:59:59 is already past/);
  });
});
