/**
 * Every case of ../shared/vectors/merkle (transparency-dev/merkle testdata): each `wantErr: false` proof
 * verifies, each `wantErr: true` one (forged, truncated, extended, wrong index or size) is refused.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { isDkeError } from '../../src/errors/index.js';
import { verifyConsistency, verifyInclusion } from '../../src/transparency/merkle.js';
import { sharedDir } from '../support/paths.js';

const vectorsDir = path.join(sharedDir, 'vectors', 'merkle');

interface InclusionCase {
  leafIdx: number;
  treeSize: number;
  root: string | null;
  leafHash: string | null;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyCase {
  size1: number;
  size2: number;
  root1: string | null;
  root2: string | null;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

function casesIn<T>(kind: string): { name: string; vector: T }[] {
  const root = path.join(vectorsDir, kind);
  const out: { name: string; vector: T }[] = [];
  for (const group of readdirSync(root).sort()) {
    for (const file of readdirSync(path.join(root, group)).sort()) {
      if (!file.endsWith('.json')) continue;
      const vector = JSON.parse(readFileSync(path.join(root, group, file), 'utf8')) as T;
      out.push({ name: `${group}/${file}`, vector });
    }
  }
  return out;
}

const bytes = (b64: string | null): Buffer => Buffer.from(b64 ?? '', 'base64');
const hashes = (list: string[] | null): Buffer[] => (list ?? []).map(bytes);

function outcome(run: () => void): 'ok' | 'refused' {
  try {
    run();
    return 'ok';
  } catch (error) {
    assert.ok(isDkeError(error, 'ERR_PROOF_INVALID'), `unexpected error ${String(error)}`);
    return 'refused';
  }
}

describe('RFC 6962 inclusion proofs: shared vectors', () => {
  const cases = casesIn<InclusionCase>('inclusion');
  test('there are vectors, valid and invalid', () => {
    assert.ok(cases.some((c) => c.vector.wantErr) && cases.some((c) => !c.vector.wantErr));
  });
  for (const { name, vector: v } of cases) {
    test(`${name}: ${v.desc} → ${v.wantErr ? 'refused' : 'verifies'}`, () => {
      const got = outcome(() =>
        verifyInclusion(v.leafIdx, v.treeSize, bytes(v.leafHash), hashes(v.proof), bytes(v.root)),
      );
      assert.equal(got, v.wantErr ? 'refused' : 'ok');
    });
  }
});

describe('RFC 6962 consistency proofs: shared vectors', () => {
  const cases = casesIn<ConsistencyCase>('consistency');
  test('there are vectors, valid and invalid', () => {
    assert.ok(cases.some((c) => c.vector.wantErr) && cases.some((c) => !c.vector.wantErr));
  });
  for (const { name, vector: v } of cases) {
    test(`${name}: ${v.desc} → ${v.wantErr ? 'refused' : 'verifies'}`, () => {
      const got = outcome(() =>
        verifyConsistency(v.size1, v.size2, hashes(v.proof), bytes(v.root1), bytes(v.root2)),
      );
      assert.equal(got, v.wantErr ? 'refused' : 'ok');
    });
  }
});
