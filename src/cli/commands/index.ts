/**
 * The CLI's sub-commands, each in its own module that registers itself on the program. Modules load on
 * demand: a run loads only the command it executes, so streaming `dke decrypt` does not pay the memory
 * of the key service's dependencies (SQLite, Fastify, ajv: about 25 MiB). Help and unknown commands
 * load them all. Order is the order in `dke --help`.
 */
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

export const commandLoaders: Readonly<Record<string, () => Promise<RegisterCommand>>> = {
  keygen: async () => (await import('./keygen.js')).registerKeygen,
  encrypt: async () => (await import('./encrypt.js')).registerEncrypt,
  decrypt: async () => (await import('./decrypt.js')).registerDecrypt,
  inspect: async () => (await import('./inspect.js')).registerInspect,
  serve: async () => (await import('./serve.js')).registerServe,
  key: async () => (await import('./key.js')).registerKey,
  audit: async () => (await import('./audit.js')).registerAudit,
  store: async () => (await import('./store.js')).registerStore,
  doctor: async () => (await import('./doctor.js')).registerDoctor,
};

/** The commands to register for this argument vector: the one named, or all of them. */
export async function loadCommands(args: readonly string[]): Promise<RegisterCommand[]> {
  const name = args.find((arg) => !arg.startsWith('-'));
  const loader = name === undefined ? undefined : commandLoaders[name];
  const loaders = loader === undefined ? Object.values(commandLoaders) : [loader];
  return Promise.all(loaders.map((load) => load()));
}
