/** `dke serve`: runs the key service (native and Microsoft DKE protocols, admin API) until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { startServer } from '../../service/server.js';
import { info } from '../output.js';

interface ServeOptions {
  readonly config?: string;
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
        'pending audit records are committed first.',
    )
    .action(async (options: ServeOptions) => {
      const config = loadConfig(options.config === undefined ? {} : { file: options.config });
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
    });
}
