/**
 * Identity comparison over real HTTP (issue 9 item 3): a real server, tokens of the real development
 * issuer, policies set through the admin API. Look-alike policy entries are refused; look-alike user names
 * in tokens do not open keys; `sub:` subjects are case-sensitive.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { JWK } from 'jose';
import { publicKeyFromJwk } from '../../src/crypto/holder-keys.js';
import { wrapShare } from '../../src/format/share-jwe.js';
import { startHarness, type Harness } from '../service/harness.js';
import { assertError } from '../service/assertions.js';

describe('identity comparison through the key service', () => {
  let h: Harness;
  let admin: string;

  before(async () => {
    h = await startHarness();
    admin = await h.adminToken();
    const created = await h.request('POST', '/admin/keys', {
      token: admin,
      body: { name: 'kates', spec: 'P-256', policy: { users: ['kate@x.example', 'SUB:Mixed-Case-Sub'] } },
    });
    assert.equal(created.status, 201, created.text);
  });
  after(() => h.close());

  async function unwrapStatus(token: string): Promise<number> {
    const published = await h.request('GET', '/keys/kates');
    const stanza = await wrapShare(randomBytes(32), publicKeyFromJwk(published.json?.jwk as JWK), {
      objectId: randomBytes(16),
      keyId: published.json?.keyId as string,
    });
    return (await h.request('POST', '/keys/kates/unwrap', { token, body: { stanza } })).status;
  }

  it('stores sub: subjects exactly and the rest A-Z folded', async () => {
    const answer = await h.request('GET', '/admin/keys/kates', { token: admin });
    assert.deepEqual((answer.json?.policy as { users: string[] }).users, [
      'kate@x.example',
      'sub:Mixed-Case-Sub',
    ]);
  });

  it('refuses look-alike policy entries with 400', async () => {
    for (const users of [['\u212Aate@x.example'], ['\uFF4Bate@x.example'], ['ka\u200Bte@x.example']]) {
      const answer = await h.request('PUT', '/admin/keys/kates/policy', { token: admin, body: { users } });
      assertError(answer, 'ERR_BAD_REQUEST');
      assert.match(String(answer.json?.message), /policy\.users\[0\]/);
    }
  });

  it('a token whose upn is a look-alike of the allowed name gets 403; the real name (any ASCII case) 200', async () => {
    for (const upn of [
      '\u212Aate@x.example',
      '\uFF4Bate@x.example',
      '\u00A0kate@x.example',
      'ka\u200Bte@x.example',
    ]) {
      assert.equal(await unwrapStatus(await h.token({ sub: 'someone', upn })), 403, JSON.stringify(upn));
    }
    assert.equal(await unwrapStatus(await h.token({ sub: 'kate', upn: 'KATE@x.example' })), 200);
  });

  it('sub: entries match the subject exactly', async () => {
    assert.equal(await unwrapStatus(await h.token({ sub: 'Mixed-Case-Sub' })), 200);
    assert.equal(await unwrapStatus(await h.token({ sub: 'mixed-case-sub' })), 403);
    assert.equal(await unwrapStatus(await h.token({ sub: 'MIXED-CASE-SUB' })), 403);
  });
});
