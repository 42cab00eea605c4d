/**
 * Worker thread entry of the chunk pipeline (chunk-workers.ts): seals or opens each chunk it is sent with
 * the key the job carries, wipes its copy of the key, and sends back both buffers (transferred, never
 * copied) with the result.
 */
import { parentPort } from 'node:worker_threads';
import { runChunkJob } from './chunk-job.js';
import type { WorkerJob } from './chunk-workers.js';
import { GarbageBudget } from './memory.js';

const port = parentPort;
if (port !== null) {
  // node:crypto returns each chunk's result in a fresh buffer before it is copied into the recycled one:
  // young garbage of this thread, collected every few MiB.
  const budget = new GarbageBudget();
  port.on('message', (job: WorkerJob) => {
    const result = runChunkJob(job.op, job.key, job);
    job.key.fill(0);
    port.postMessage(result, [result.input, result.output]);
    budget.spend(job.length);
  });
}
