/**
 * A small C2SP tlog-witness `add-checkpoint` peer over real HTTP on loopback, for testing our log's
 * submitter until the service's own witness role is merged: verifies the log's signature and the
 * consistency proof from the last size it cosigned, answers 409 (text/x.tlog.size) on a stale old size, 422
 * on a bad proof, 404 for an unknown origin, and returns a cosignature/v1 line.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  cosign,
  generateSignerKey,
  KEY_TYPE_COSIGNATURE_V1,
  noteVerifier,
  openCheckpoint,
  verifyConsistency,
} from '../../src/transparency/index.js';

export interface TestWitness {
  readonly url: string;
  readonly vkey: string;
  /** The log it witnesses; until set, every submission is 404 (unknown origin). */
  logVkey: string | undefined;
  /** The latest size and root it cosigned. */
  state: { size: number; root: Buffer };
  /** Answer every submission with this status instead (e.g. 422). */
  forceStatus: number | undefined;
  /** Status of each answered submission, in order. */
  readonly answers: number[];
  close(): Promise<void>;
}

export async function startTestWitness(name = 'witness.test/w1'): Promise<TestWitness> {
  const key = generateSignerKey(name, KEY_TYPE_COSIGNATURE_V1);
  // eslint-disable-next-line prefer-const -- assigned once the request handler (which needs `witness`) exists
  let server: Server | undefined;
  const witness: TestWitness = {
    url: '',
    vkey: key.verifierKey,
    logVkey: undefined,
    state: { size: 0, root: Buffer.alloc(0) },
    forceStatus: undefined,
    answers: [],
    close: () => new Promise((resolve) => server?.close(() => resolve())),
  };

  function answer(body: string): { status: number; text: string; type?: string } {
    if (witness.forceStatus !== undefined) return { status: witness.forceStatus, text: 'forced\n' };
    if (witness.logVkey === undefined) return { status: 404, text: 'unknown origin\n' };
    const split = body.indexOf('\n\n');
    const head = body.slice(0, split).split('\n');
    const note = body.slice(split + 2);
    const oldLine = /^old (0|[1-9][0-9]*)$/.exec(head.shift() ?? '');
    if (split < 0 || oldLine === null) return { status: 400, text: 'bad request\n' };
    const old = Number(oldLine[1]);
    let opened;
    try {
      opened = openCheckpoint(note, noteVerifier(witness.logVkey));
    } catch {
      return { status: 403, text: 'bad signature\n' };
    }
    const size = Number(opened.checkpoint.size);
    const root = opened.checkpoint.rootHash;
    if (old > size) return { status: 400, text: 'old size above checkpoint size\n' };
    if (old !== witness.state.size) {
      return { status: 409, text: `${witness.state.size}\n`, type: 'text/x.tlog.size' };
    }
    const proof = head.map((line) => Buffer.from(line, 'base64'));
    try {
      if (old === 0) {
        if (proof.length !== 0) throw new Error('proof from the empty tree');
      } else {
        verifyConsistency(old, size, proof, witness.state.root, root);
      }
    } catch {
      return { status: 422, text: 'inconsistent\n' };
    }
    witness.state = { size, root };
    return { status: 200, text: cosign(opened.body, key.signerKey, Math.floor(Date.now() / 1000)) };
  }

  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const result =
        request.method === 'POST' && request.url === '/add-checkpoint'
          ? answer(Buffer.concat(chunks).toString('utf8'))
          : { status: 404, text: 'not found\n' };
      witness.answers.push(result.status);
      response.writeHead(result.status, { 'content-type': result.type ?? 'text/plain; charset=utf-8' });
      response.end(result.text);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  (witness as { url: string }).url = `http://127.0.0.1:${port}`;
  return witness;
}
