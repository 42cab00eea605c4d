/** The config loader: YAML and JSON files, defaults, DKE_* overrides, errors naming the field. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULTS, ENV_OVERRIDES, loadConfig } from '../../src/config/index.js';
import { isDkeError } from '../../src/errors/index.js';
import { MASTER_KEY_ENV } from '../../src/keystore/index.js';
import { repoRoot } from '../support/paths.js';
import { generateSignerKey, KEY_TYPE_COSIGNATURE_V1 } from '../../src/transparency/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dke-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const full = path.join(dir, name);
  writeFileSync(full, text);
  return full;
}

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(isDkeError(error, 'ERR_CONFIG_INVALID'), String(error));
    return error.message;
  }
  assert.fail('no error');
}

const auth = {
  audience: 'https://dke.example.test',
  issuers: [{ issuer: 'https://idp.example.test/', algorithms: ['RS256'] }],
};

describe('config', () => {
  it('defaults: loopback listen address, small body limit, paths relative to the cwd', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.port, DEFAULTS.server.port);
    assert.equal(config.server.bodyLimit, 64 * 1024);
    assert.equal(config.store.database, path.resolve('opendke.db'));
    assert.equal(config.logging.level, 'info');
  });

  it('reads YAML, resolves relative paths against the file, validates auth with its schema', () => {
    const yaml = file(
      'dke.yaml',
      `server:\n  port: 9443\n  publicBaseUrl: https://dke.example.test\n  tls: {certFile: tls/cert.pem, keyFile: tls/key.pem}\nstore:\n  database: data/dke.db\nauth: ${JSON.stringify(auth)}\n`,
    );
    const config = loadConfig({ file: yaml, env: {} });
    assert.equal(config.server.port, 9443);
    assert.equal(config.server.tls?.certFile, path.join(dir, 'tls/cert.pem'));
    assert.equal(config.store.database, path.join(dir, 'data/dke.db'));
    assert.equal(config.store.masterKeyFile, path.join(dir, 'master.key'));
    assert.deepEqual(config.auth, auth);
  });

  it('DKE_* variables override the file; every documented variable exists', () => {
    const json = file('dke.json', JSON.stringify({ server: { port: 1 }, logging: { level: 'debug' } }));
    const config = loadConfig({
      file: json,
      env: {
        DKE_PORT: '8000',
        DKE_TRUSTED_PROXIES: '10.0.0.1, 10.0.0.0/8',
        DKE_LOG_LEVEL: 'warn',
        DKE_METRICS: 'false',
      },
    });
    assert.equal(config.server.port, 8000);
    assert.deepEqual(config.server.trustedProxies, ['10.0.0.1', '10.0.0.0/8']);
    assert.equal(config.logging.level, 'warn');
    assert.equal(config.server.metrics, false);
    assert.equal(ENV_OVERRIDES.length, new Set(ENV_OVERRIDES.map((o) => o.variable)).size);
  });

  it('errors name the field (and the variable it came from)', () => {
    assert.match(
      configError(() => loadConfig({ file: file('a.json', '{"server":{"port":"x"}}'), env: {} })),
      /server\.port must be integer/,
    );
    assert.match(
      configError(() => loadConfig({ env: { DKE_PORT: 'eighty' } })),
      /server\.port must be integer \(from DKE_PORT\)/,
    );
    assert.match(
      configError(() => loadConfig({ file: file('b.json', '{"server":{"prot":1}}'), env: {} })),
      /server\.prot is not a known field/,
    );
    assert.match(
      configError(() => loadConfig({ file: file('c.json', '{"server":{"tls":{"certFile":"c"}}}'), env: {} })),
      /server\.tls\.keyFile is required/,
    );
    assert.match(
      configError(() => loadConfig({ file: file('d.json', '{"logging":{"level":"loud"}}'), env: {} })),
      /logging\.level must be one of/,
    );
    assert.match(
      configError(() =>
        loadConfig({ file: file('e.json', '{"server":{"publicBaseUrl":"dke.example.test"}}'), env: {} }),
      ),
      /server\.publicBaseUrl has an invalid format/,
    );
    assert.match(
      configError(() => loadConfig({ file: file('f.json', '{"auth":{"issuers":[]}}'), env: {} })),
      /auth\.audience is required/,
    );
    assert.match(
      configError(() => loadConfig({ file: file('g.yaml', 'server: [\n'), env: {} })),
      /not valid YAML or JSON/,
    );
    assert.match(
      configError(() => loadConfig({ file: path.join(dir, 'missing.yaml'), env: {} })),
      /cannot read config file/,
    );
  });

  it('no type coercion: a value of the wrong JSON type is an error, in the file and in auth', () => {
    for (const [server, message] of [
      [{ port: '8443' }, /server\.port must be integer/],
      [{ metrics: 'true' }, /server\.metrics must be boolean/],
      [{ trustedProxies: '10.0.0.1' }, /server\.trustedProxies must be array/],
      [{ bodyLimit: [65536] }, /server\.bodyLimit must be integer/],
      [{ maxHeaderBytes: '32768' }, /server\.maxHeaderBytes must be integer/],
    ] as const) {
      const json = file('types.json', JSON.stringify({ server }));
      assert.match(
        configError(() => loadConfig({ file: json, env: {} })),
        message,
      );
    }
    const issuer = { ...auth.issuers[0], clockSkewSeconds: '60' };
    const json = file('auth-types.json', JSON.stringify({ auth: { ...auth, issuers: [issuer] } }));
    assert.match(
      configError(() => loadConfig({ file: json, env: {} })),
      /clockSkewSeconds must be integer/,
    );
  });

  it('server.maxHeaderBytes: default 32 KiB, never below a largest token plus 4 KiB', () => {
    assert.equal(loadConfig({ env: {} }).server.maxHeaderBytes, 32 * 1024);
    const json = file('small-head.json', JSON.stringify({ server: { maxHeaderBytes: 16384 } }));
    assert.match(
      configError(() => loadConfig({ file: json, env: {} })),
      /server\.maxHeaderBytes must be >= 20480/,
    );
  });

  it('docs/config.md lists exactly the environment variables the loader reads', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'config.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Environment variables'));
    const documented = [...section.matchAll(/^\| `(DKE_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    assert.deepEqual(documented, [...ENV_OVERRIDES.map((o) => o.variable), MASTER_KEY_ENV].sort());
  });
});

describe('config: audit.log', () => {
  const witnessVkey = (name: string): string => generateSignerKey(name, KEY_TYPE_COSIGNATURE_V1).verifierKey;
  const load = (log: unknown): unknown =>
    loadConfig({ file: file('audit.json', JSON.stringify({ audit: { log } })), env: {} });

  it('defaults: interval 5 s, receipts on, no witnesses, rule off', () => {
    assert.deepEqual(loadConfig({ env: {} }).audit.log, {
      checkpointIntervalSeconds: 5,
      receipts: true,
      witnesses: [],
    });
  });

  it('refuses a bad vkey, repeated witnesses, an unmeetable quorum and the rule without witnesses', () => {
    const w1 = { url: 'https://w1.example/witness', vkey: witnessVkey('w1.example/w') };
    const w2 = { url: 'https://w2.example/witness', vkey: witnessVkey('w2.example/w') };
    assert.doesNotThrow(() => load({ witnesses: [w1, w2], quorum: 2, requireCosignatureWithinSeconds: 60 }));
    const ed25519 = generateSignerKey('w3.example/w').verifierKey;
    assert.match(
      configError(() => load({ witnesses: [{ url: w1.url, vkey: ed25519 }] })),
      /witnesses\[0\]\.vkey/,
    );
    assert.match(
      configError(() => load({ witnesses: [w1, { ...w1, url: w2.url }] })),
      /repeats/,
    );
    assert.match(
      configError(() => load({ witnesses: [w1], quorum: 2 })),
      /quorum/,
    );
    assert.match(
      configError(() => load({ requireCosignatureWithinSeconds: 60 })),
      /needs audit\.log\.witnesses/,
    );
    assert.match(
      configError(() => load({ origin: 'has space/opendke' })),
      /origin/,
    );
    assert.match(
      configError(() => load({ checkpointIntervalSeconds: '5' })),
      /checkpointIntervalSeconds/,
    );
  });
});
