/** `dke serve`: runs the key service (native and Microsoft DKE protocols, admin API) until SIGINT/SIGTERM. */
import cluster from 'node:cluster';
import os from 'node:os';
import type { Command } from 'commander';
import { loadConfig, type ServiceConfig } from '../../config/index.js';
import { startServer } from '../../service/server.js';
import { createLogger } from '../../service/logger.js';
import { runClusterPrimary } from '../../service/cluster/primary.js';
import { runClusterWorker } from '../../service/cluster/worker.js';
import { info } from '../output.js';

interface ServeOptions {
  readonly config?: string;
}

/** `server.workers`, with `auto` as the cores this process may use. */
function workerCount(config: ServiceConfig): number {
  const { workers } = config.server;
  return workers === 'auto' ? os.availableParallelism() : workers;
}

/** One process, as before `server.workers`: the server itself handles the signals. */
async function serveAlone(config: ServiceConfig): Promise<void> {
  const server = await startServer(config);
  info(`dke: key service listening on ${server.url}`);
  await new Promise<void>((resolve, reject) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.close().then(resolve, reject);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'run the key service: native key protocol, Microsoft DKE protocol and admin API (docs/config.md)',
    )
    .option('-c, --config <file>', 'config file, YAML or JSON (DKE_* environment variables override it)')
    .addHelpText(
      'after',
      '\nLogs are JSON lines on stdout. Stops cleanly on SIGINT or SIGTERM: running requests finish and\n' +
        'pending audit records are committed first. With server.workers > 1, one process per worker\n' +
        'shares the port (docs/deploy.md).',
    )
    .action(async (options: ServeOptions) => {
      const config = loadConfig(options.config === undefined ? {} : { file: options.config });
      // A forked worker runs this command again (same argv and environment): it serves.
      if (cluster.isWorker) return runClusterWorker(config);
      const workers = workerCount(config);
      if (workers === 1) return serveAlone(config);
      return runClusterPrimary(config, {
        workers,
        logger: createLogger(config.logging.level, undefined, { role: 'primary' }),
        onListening: (url) => info(`dke: key service listening on ${url} (${workers} workers)`),
      });
    });
}
