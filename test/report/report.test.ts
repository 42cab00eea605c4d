import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openAuditStore } from '../../src/keystore/index.js';
import {
  buildIncidentReport,
  integrityStatement,
  renderHtml,
  renderJson,
  renderMarkdown,
  reportReadsFrom,
  type IncidentReport,
  type IntegrityStatement,
  type ReportFilter,
} from '../../src/report/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { makeTempDir, removeDir } from '../store/temp-dir.js';
import { cosign, formatCheckpointBody } from '../../src/transparency/index.js';
import { checkpointNote, TEST_ORIGIN, testLogKeys } from '../support/receipts.js';
import { EVIL_REQUEST, EVIL_SUBJECT, EVIL_USER, ISSUER, SINCE, UNTIL, writeIncident } from './fixture.js';

const GENERATED = '2026-03-12T00:00:00.000Z';

describe('incident report', () => {
  let dir: string;
  let dbPath: string;
  before(async () => {
    dir = makeTempDir('dke-report-');
    dbPath = path.join(dir, 'dke.db');
    await writeIncident(dbPath);
  });
  after(() => removeDir(dir));

  const build = async (filter: Partial<ReportFilter> = {}, options = {}): Promise<IncidentReport> => {
    const opened = await openAuditStore({ dbPath, readonly: true });
    const { store, audit } = opened;
    try {
      const full = { since: SINCE, until: UNTIL, ...filter };
      const integrity = await integrityStatement(audit);
      return await buildIncidentReport(store.iterateAuditRows(reportReadsFrom(full)), full, integrity, {
        generatedAt: GENERATED,
        ...options,
      });
    } finally {
      await opened.close();
    }
  };

  it('states the verified size, Merkle root and chain head', async () => {
    const r = await build();
    const opened = await openAuditStore({ dbPath, readonly: true });
    const tail = await opened.store.auditTail();
    const root = (await opened.audit.treeHead()).rootHash.toString('hex');
    await opened.close();
    assert.deepEqual(r.integrity, {
      verified: true,
      size: 130,
      chainHead: tail?.hash,
      rootHash: root,
      problems: [],
    });
    assert.deepEqual(r.totals, {
      records: 38,
      releases: 33,
      refusals: 2,
      adminChanges: 2,
      subjects: 5,
      unverifiedRecords: 0,
    });
    assert.equal(r.truncated.any, false);
    assert.deepEqual(r.baseline, { since: '2026-02-08T00:00:00.000Z', until: SINCE, days: 30 });
  });

  it('lists who obtained which object key, when, from where, with request ids', async () => {
    const r = await build();
    assert.deepEqual(
      r.releases.map((g) => [
        g.objectId,
        g.keyName,
        g.count,
        g.identities.map((i) => [i.subject, i.userName, i.count]),
      ]),
      [
        ['obj-1', 'finance', 2, [['alice-sub', 'alice@example.com', 2]]],
        ['obj-2', 'finance', 31, [['bob-sub', 'bob@example.com', 31]]],
      ],
    );
    const alice = r.releases[0]?.identities[0];
    assert.deepEqual(alice, {
      issuer: ISSUER,
      subject: 'alice-sub',
      userName: 'alice@example.com',
      count: 2,
      firstTime: '2026-03-10T10:00:00.000Z',
      lastTime: '2026-03-10T10:01:00.000Z',
      events: [
        {
          seq: 123,
          time: '2026-03-10T10:00:00.000Z',
          keyVersion: 1,
          clientAddress: '192.0.2.1',
          requestId: 'aw1',
        },
        {
          seq: 124,
          time: '2026-03-10T10:01:00.000Z',
          keyVersion: 1,
          clientAddress: '192.0.2.1',
          requestId: 'aw2',
        },
      ],
    });
  });

  it('groups refusals by identity and reason, and lists admin changes only', async () => {
    const r = await build();
    assert.deepEqual(r.refusals, [
      {
        issuer: ISSUER,
        subject: EVIL_SUBJECT,
        userName: EVIL_USER,
        action: 'native.unwrap',
        result: 'denied',
        reason: 'not in the key policy',
        count: 2,
        firstTime: '2026-03-10T11:00:00.000Z',
        lastTime: '2026-03-10T11:01:00.000Z',
        clientAddresses: ['203.0.113.66'],
      },
    ]);
    assert.deepEqual(
      r.adminChanges.map((a) => [a.seq, a.action, a.subject, a.keyName, a.keyVersion]),
      [
        [127, 'admin.policy.set', 'admin-sub', 'finance', null],
        [129, 'cli.key.rotate', 'root', 'finance', 2],
      ],
    );
  });

  it('flags the spike, the new address, the unusual hour and the new subjects, with their numbers', async () => {
    const r = await build();
    assert.deepEqual(r.outliers, [
      {
        issuer: ISSUER,
        subject: EVIL_SUBJECT,
        kind: 'new-subject',
        firstTime: '2026-03-10T11:00:00.000Z',
        records: 2,
      },
      {
        issuer: ISSUER,
        subject: 'bob-sub',
        kind: 'rate',
        releases: 31,
        baselineMedianPerDay: 1,
        expected: 1,
        factor: 5,
        minimum: 20,
      },
      {
        issuer: ISSUER,
        subject: 'bob-sub',
        kind: 'new-address',
        clientAddress: '203.0.113.9',
        firstTime: '2026-03-10T03:00:00.000Z',
        records: 1,
      },
      { issuer: ISSUER, subject: 'bob-sub', kind: 'unusual-hour', hour: 3, releases: 1, baselineHours: [9] },
      {
        issuer: 'local-cli',
        subject: 'root',
        kind: 'new-subject',
        firstTime: '2026-03-10T15:00:00.000Z',
        records: 1,
      },
    ]);
    const bob = r.subjects[0];
    assert.deepEqual(bob, {
      issuer: ISSUER,
      subject: 'bob-sub',
      userNames: ['bob@example.com'],
      records: 31,
      releases: 31,
      refusals: 0,
      clientAddresses: 2,
      baselineReleases: 30,
      baselineMedianPerDay: 1,
    });
  });

  it('moves the unusual hour with --timezone and applies the filters to window and baseline', async () => {
    const tokyo = await build({ timezone: 'Asia/Tokyo' });
    const hours = tokyo.outliers.filter((o) => o.kind === 'unusual-hour');
    assert.deepEqual(hours, [
      {
        issuer: ISSUER,
        subject: 'bob-sub',
        kind: 'unusual-hour',
        hour: 12,
        releases: 1,
        baselineHours: [18],
      },
    ]);
    const alice = await build({ subject: 'alice-sub' });
    assert.deepEqual(alice.totals, {
      records: 2,
      releases: 2,
      refusals: 0,
      adminChanges: 0,
      subjects: 1,
      unverifiedRecords: 0,
    });
    assert.deepEqual(alice.outliers, []);
    const object = await build({ objectId: 'obj-1' });
    assert.deepEqual(object.totals.refusals, 2);
    assert.deepEqual(
      object.releases.map((g) => g.objectId),
      ['obj-1'],
    );
    assert.equal((await build({ keyName: 'other' })).totals.records, 0);
  });

  it('caps the detailed rows and says what it left out', async () => {
    const r = await build({}, { maxRows: 1 });
    assert.equal(r.releases.length, 1);
    assert.equal(r.releases[0]?.identities[0]?.subject, 'bob-sub');
    assert.equal(r.releases[0]?.identities[0]?.events.length, 1);
    assert.deepEqual(r.truncated, {
      any: true,
      releaseRecordsWithoutIdentityRow: 2,
      releaseEvents: 32,
      refusalRecords: 0,
      adminChanges: 1,
      subjects: 4,
      outliers: 4,
    });
    assert.equal(r.outliers.length, 1);
    assert.equal(r.totals.releases, 33);
    assert.match(renderMarkdown(r), /Truncated at 1 rows per section: left out 32 release events/);
  });

  it('renders markdown with the integrity statement first and every value escaped', async () => {
    const md = renderMarkdown(await build());
    const lines = md.split('\n');
    assert.equal(lines[0], '# Incident report');
    assert.match(
      lines[2] ?? '',
      /^\*\*Integrity: VERIFIED: log verified up to size 130, root [0-9a-f]{64}, chain head [0-9a-f]{64}\*\*$/,
    );
    assert.equal(lines[4], '- Checkpoint: no signed checkpoint available');
    assert.ok(lines.includes('### Object obj-1, key finance: 2 releases'));
    assert.ok(
      md.includes(
        '| bob-sub | https://idp.example/ | rate | 31 releases, expected 1 (baseline median 1/day); rule: \\> 5x expected and \\>= 20 |',
      ),
    );
    assert.ok(!md.includes('<script>'));
    assert.ok(md.includes('\\<script\\>alert("x")\\</script\\>'));
  });

  it('renders JSON with the schema name and version, parseable back to the same report', async () => {
    const r = await build();
    const json = renderJson(r);
    const parsed = JSON.parse(json) as IncidentReport;
    assert.equal(parsed.schema, 'opendke.incident-report');
    assert.equal(parsed.version, 1);
    assert.deepEqual(parsed, JSON.parse(JSON.stringify(r)));
    assert.deepEqual(Object.keys(parsed), [
      'schema',
      'version',
      'generatedAt',
      'filter',
      'baseline',
      'rules',
      'integrity',
      'totals',
      'releases',
      'refusals',
      'adminChanges',
      'subjects',
      'outliers',
      'truncated',
    ]);
  });

  it('renders self-contained HTML: strict CSP, no script, attacker text escaped', async () => {
    const html = renderHtml(await build());
    assert.match(
      html,
      /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;sha256-[A-Za-z0-9+/=]+&#39;; base-uri &#39;none&#39;; form-action &#39;none&#39;">/,
    );
    assert.ok(!/<script/i.test(html), 'no script element');
    assert.ok(!html.includes('<img'), 'no injected element');
    assert.ok(!/(src|href)=/i.test(html.replace(/&#\d+;/g, '')), 'no external asset');
    assert.ok(html.includes('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;'));
    assert.ok(html.includes('o&#39;brien&#34;&#60;b&#62;@evil.example'));
    assert.ok(!html.includes(EVIL_REQUEST));
    assert.match(html, /<div class="ok"><strong>VERIFIED: log verified up to size 130/);
  });

  it('still reports a log that fails verification, headed FAILED with the first bad record', () => {
    const tampered = path.join(dir, 'tampered.db');
    return (async () => {
      await writeIncident(tampered);
      const store = openSqliteStore(tampered);
      store
        .unsafeDatabase()
        .exec("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET subject = 'eve' WHERE seq = 100");
      await store.close();
      const opened = await openAuditStore({ dbPath: tampered, readonly: true });
      const { store: s, audit } = opened;
      const filter = { since: SINCE, until: UNTIL };
      const integrity: IntegrityStatement = await integrityStatement(audit);
      const r = await buildIncidentReport(s.iterateAuditRows(reportReadsFrom(filter)), filter, integrity, {
        generatedAt: GENERATED,
      });
      await opened.close();
      assert.equal(r.integrity.verified, false);
      assert.equal(r.integrity.size, 99);
      assert.deepEqual(r.integrity.firstBroken, {
        seq: 100,
        reason: 'the record does not match its hash (a field was changed)',
      });
      assert.equal(r.totals.unverifiedRecords, 30); // window records 100-129
      assert.match(
        renderMarkdown(r),
        /^\*\*Integrity: FAILED: log verification failed at record 100: the record does not match its hash \(a field was changed\); records 1-99 verify/m,
      );
      assert.match(
        renderHtml(r),
        /<div class="failed"><strong>FAILED: log verification failed at record 100/,
      );
    })();
  });
});

describe('incident report: which checkpoint heads it', () => {
  let dir: string;
  let dbPath: string;
  before(async () => {
    dir = makeTempDir('dke-report-checkpoint-');
    dbPath = path.join(dir, 'dke.db');
    await writeIncident(dbPath);
  });
  after(() => removeDir(dir));

  it('the largest checkpoint a witness cosigned, not a newer one nobody cosigned yet; else the latest', async () => {
    const keys = testLogKeys(1);
    const opened = await openAuditStore({ dbPath, readonly: false });
    try {
      const { store, audit } = opened;
      const persist = async (size: number, cosigned: boolean): Promise<void> => {
        const time = 1_770_000_000;
        const note = await checkpointNote(audit, keys, { size });
        const body = formatCheckpointBody({
          origin: TEST_ORIGIN,
          size,
          rootHash: (await audit.treeHead(size)).rootHash,
        });
        await store.storeCheckpoint({
          size,
          root: (await audit.treeHead(size)).rootHash,
          note,
          createdAt: GENERATED,
        });
        if (cosigned) {
          const line = cosign(body, keys.witnesses[0]!.signerKey, time);
          await store.storeCosignature({
            size,
            witnessName: 'witness-1.example.test',
            keyHash: Buffer.from('w1id'),
            line,
            timestamp: time,
          });
        }
      };
      await persist(100, false);
      assert.equal(
        (await integrityStatement(audit, store)).checkpoint?.size,
        100,
        'the latest, with none cosigned',
      );
      await persist(110, true);
      await persist(130, false);
      const statement = await integrityStatement(audit, store);
      assert.equal(statement.verified, true);
      assert.equal(statement.checkpoint?.size, 110);
      assert.deepEqual(
        statement.cosignatures?.map((c) => c.witness),
        ['witness-1.example.test'],
      );
    } finally {
      await opened.close();
    }
  });
});
