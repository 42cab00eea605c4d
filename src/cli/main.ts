#!/usr/bin/env node
/** The `dke` command: registers the sub-commands and maps errors to `dke: error:` + exit codes. */
import { Command, CommanderError } from 'commander';
import { DkeError, EXIT } from '../errors/index.js';
import { printError } from './output.js';
import { guardStdout } from './stdout-guard.js';
import { loadCommands, type RegisterCommand } from './commands/index.js';

export function buildProgram(commands: readonly RegisterCommand[]): Command {
  const program = new Command('dke')
    .description('OpenDKE: double key encryption of files and streams, and the customer key service')
    .version('0.1.0')
    .configureOutput({ outputError: (text, write) => write(`dke: ${text}`) })
    .showHelpAfterError('dke: hint: run dke --help for usage')
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

/** An object id is base64url of 16 bytes (22 characters) and may begin with '-', which reads as an option. */
const OBJECT_ID_AS_OPTION = /unknown option '-[A-Za-z0-9_-]{21}'/;

async function run(argv: readonly string[]): Promise<number> {
  try {
    const program = buildProgram(await loadCommands(argv.slice(2)));
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed its message (usage errors) or the help/version text.
      if (error.code === 'commander.unknownOption' && OBJECT_ID_AS_OPTION.test(error.message))
        process.stderr.write(
          "dke: hint: an object id that begins with '-' goes after '--', e.g. dke key revoke -- NAME OBJECT_ID\n",
        );
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    return printError(error);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const stdout = guardStdout();
  return stdout.settle(await run(argv));
}

// Unhandled rejections must not print stack traces either.
process.on('unhandledRejection', (error) => {
  process.exitCode = printError(
    error instanceof DkeError ? error : new DkeError('ERR_INTERNAL', { cause: error }),
  );
});
process.exitCode = await main(process.argv);
