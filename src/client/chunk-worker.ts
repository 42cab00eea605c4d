/** Worker-thread body: seals or opens one batch per message (see chunk-workers.ts). */
import { parentPort } from 'node:worker_threads';
import { isDkeError } from '../errors/index.js';
import { openBatch, sealBatch, type BatchJob } from '../format/chunk-batch.js';

export interface WorkerRequest extends BatchJob {
  readonly id: number;
  readonly op: 'seal' | 'open';
}

export type WorkerReply =
  | { readonly id: number; readonly data: Buffer }
  | { readonly id: number; readonly code: string; readonly detail: string | undefined };

parentPort?.on('message', (request: WorkerRequest) => {
  const job: BatchJob = {
    ...request,
    key: Buffer.from(request.key),
    data: Buffer.from(request.data.buffer, request.data.byteOffset, request.data.byteLength),
  };
  try {
    const data = request.op === 'seal' ? sealBatch(job) : openBatch(job);
    parentPort?.postMessage({ id: request.id, data } satisfies WorkerReply, [data.buffer as ArrayBuffer]);
  } catch (error) {
    const code = isDkeError(error) ? error.code : 'ERR_INTERNAL';
    const detail = isDkeError(error) ? error.detail : String(error);
    parentPort?.postMessage({ id: request.id, code, detail } satisfies WorkerReply);
  } finally {
    job.key.fill(0);
  }
});
