/**
 * `dke key ...`: key lifecycle on the key service's store, offline (the same SQLite file a running server
 * uses: changes apply to its next request). Every change is audited as the local OS user, like the admin
 * API audits its callers (src/service/audited-action.ts).
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import { DkeError } from '../../errors/index.js';
import { resolveServiceParts, type StoreFlags } from '../../config/index.js';
import { KEY_BACKEND_KINDS, type KeyBackendKind } from '../../keystore/backends/operator.js';
import { loadMasterKey, openKeyServiceAt, type KeyService } from '../../keystore/index.js';
import type { DkeStore } from '../../store/index.js';
import { normalizePolicy } from '../../policy/evaluate.js';
import type { KeyInfo, KeyProtocol } from '../../service/contracts.js';
import { keyTarget, runAudited, type AuditTarget } from '../../service/audited-action.js';
import { assertNewKeyName } from '../../keystore/validation.js';
import { KEY_SPECS } from '../../service/admin-schemas.js';
import type { KeySpec } from '../../crypto/holder-keys.js';
import { info } from '../output.js';

interface CommonOptions extends StoreFlags {
  readonly json?: boolean;
}

/** The principal of CLI changes in the audit log: whoever runs the command on this machine. */
const CLI_ISSUER = 'local-cli';

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

/** -c/--config, --db (and --master-key-file where keys are opened), --json: which store, how to print. */
export function addStoreOptions(command: Command, masterKey = true): Command {
  command
    .option('-c, --config <file>', 'the key service config file (its store section is used)')
    .option(
      '--db <file>',
      'SQLite store file or postgres:// URL (overrides the config; default opendke.db, DKE_DATABASE)',
    );
  if (masterKey) {
    command.option(
      '--master-key-file <file>',
      'master key file (overrides the config; DKE_MASTER_KEY wins over both)',
    );
  }
  return command.option('--json', 'print JSON instead of text');
}

async function withStore<T>(
  options: StoreFlags,
  run: (service: KeyService<DkeStore>) => Promise<T> | T,
): Promise<T> {
  const { store, keys } = resolveServiceParts(options);
  const master = loadMasterKey({ file: store.masterKeyFile, createIfMissing: true });
  if (master.source === 'created')
    info(`dke: created a new master key file ${store.masterKeyFile}: back it up`);
  // The token (keys.backends.pkcs11) is opened only by a command that needs it (docs/hsm.md).
  const pkcs11 = keys.backends.pkcs11;
  const service = await openKeyServiceAt({
    dbPath: store.database,
    masterKey: master.masterKey,
    postgres: store.postgres,
    ...(pkcs11 === undefined ? {} : { pkcs11 }),
  });
  try {
    return await run(service);
  } finally {
    await service.close();
  }
}

/** Runs one audited change and prints the key. */
async function change(
  options: CommonOptions,
  action: string,
  target: AuditTarget,
  run: (service: KeyService<DkeStore>) => Promise<KeyInfo> | KeyInfo,
): Promise<void> {
  const key = await withStore(options, (service) =>
    runAudited(
      service.audit,
      { action: `cli.${action}`, issuer: CLI_ISSUER, subject: osUser(), ...target },
      () => run(service),
      keyTarget,
    ),
  );
  printKey(key, options.json === true);
}

function printKey(key: KeyInfo, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(key)}\n`);
    return;
  }
  const p = key.policy;
  const lines = [
    `name:      ${key.name}`,
    `protocol:  ${key.protocol}`,
    `state:     ${key.state}`,
    `active:    version ${key.activeVersion}`,
    `cache:     ${key.cacheSeconds === undefined ? 'no caching' : `${key.cacheSeconds} s`}`,
    `policy:    users [${p.users.join(', ')}] groups [${p.groups.join(', ')}] roles [${p.roles.join(', ')}] tenants [${p.tenants.join(', ')}]`,
    ...key.versions.map(
      (v) =>
        `version ${v.version}: ${v.keyId} ${v.spec} ${v.backend} ${v.createdAt}${v.destroyed ? ' (destroyed)' : ''}`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new DkeError('ERR_IO', { message: `cannot read ${file}`, cause });
  }
}

function parseSeconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new DkeError('ERR_USAGE', { message: `not a number of seconds: ${value}` });
  return Number(value);
}

const list = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',')];

const protocolOption = (): Option =>
  new Option('--protocol <protocol>', 'native (OpenDKE files) or ms-dke (Microsoft Purview DKE)')
    .choices(['native', 'ms-dke'])
    .default('native');
const cacheOption = (): Option =>
  new Option(
    '--cache-seconds <seconds>',
    'ms-dke: how long clients may cache the public key (cache.exp)',
  ).argParser(parseSeconds);
const backendOption = (defaultText: string): Option =>
  new Option(
    '--backend <backend>',
    `where the private key lives: software (sealed in the store) or pkcs11 (the configured token, docs/hsm.md); default ${defaultText}`,
  ).choices([...KEY_BACKEND_KINDS]);
const specOption = (): Option =>
  new Option('--spec <spec>', 'key type (default RSA-3072 for native, RSA-2048 for ms-dke)').choices([
    ...KEY_SPECS,
  ]);

export function registerKey(program: Command): void {
  const key = program
    .command('key')
    .description(
      'manage the key service keys: create, import, rotate, disable, enable, destroy, list, policy, revoke',
    )
    .addHelpText(
      'after',
      '\nAll sub-commands take -c/--config, --db and --master-key-file to pick the store.',
    );

  addStoreOptions(key.command('create <name>').description('generate a new key (version 1)'))
    .addOption(protocolOption())
    .addOption(specOption())
    .addOption(cacheOption())
    .addOption(backendOption('software'))
    .action(
      (
        name: string,
        o: CommonOptions & {
          protocol: KeyProtocol;
          spec?: KeySpec;
          cacheSeconds?: number;
          backend?: KeyBackendKind;
        },
      ) => {
        assertNewKeyName(name);
        return change(o, 'key.create', { keyName: name }, (s) =>
          s.keys.create(name, {
            protocol: o.protocol,
            spec: o.spec,
            cacheSeconds: o.cacheSeconds,
            backend: o.backend,
          }),
        );
      },
    );

  addStoreOptions(
    key.command('import <name>').description('import a PEM private key (PKCS#1 or PKCS#8) as a new key'),
  )
    .requiredOption('--pem <file>', 'the private key PEM file')
    .addOption(protocolOption())
    .addOption(specOption())
    .addOption(cacheOption())
    .addOption(backendOption('software'))
    .action(
      (
        name: string,
        o: CommonOptions & {
          pem: string;
          protocol: KeyProtocol;
          spec?: KeySpec;
          cacheSeconds?: number;
          backend?: KeyBackendKind;
        },
      ) => {
        assertNewKeyName(name);
        const pem = readPem(o.pem);
        return change(o, 'key.import', { keyName: name }, (s) =>
          s.keys.import(name, pem, {
            protocol: o.protocol,
            spec: o.spec,
            cacheSeconds: o.cacheSeconds,
            backend: o.backend,
          }),
        );
      },
    );

  addStoreOptions(
    key.command('rotate <name>').description('add a new active version; older versions keep decrypting'),
  )
    .option('--pem <file>', 'import this PEM private key as the new version instead of generating one')
    .addOption(specOption())
    .addOption(backendOption('that of the active version'))
    .action((name: string, o: CommonOptions & { pem?: string; spec?: KeySpec; backend?: KeyBackendKind }) =>
      change(o, 'key.rotate', { keyName: name }, (s) =>
        s.keys.rotate(name, {
          ...(o.pem === undefined ? {} : { pem: readPem(o.pem) }),
          spec: o.spec,
          backend: o.backend,
        }),
      ),
    );

  addStoreOptions(
    key.command('disable <name>').description('refuse every use of the key until enabled again'),
  ).action((name: string, o: CommonOptions) =>
    change(o, 'key.disable', { keyName: name }, (s) => s.keys.disable(name)),
  );
  addStoreOptions(key.command('enable <name>').description('allow use of a disabled key again')).action(
    (name: string, o: CommonOptions) =>
      change(o, 'key.enable', { keyName: name }, (s) => s.keys.enable(name)),
  );

  addStoreOptions(
    key
      .command('destroy <name>')
      .description('crypto-shred every version of the key: IRREVERSIBLE, its files are lost'),
  )
    .option('--yes', 'confirm the destruction')
    .action((name: string, o: CommonOptions & { yes?: boolean }) => {
      if (o.yes !== true) {
        throw new DkeError('ERR_USAGE', {
          message: `refusing to destroy ${name} without --yes`,
          hint: 'nothing encrypted to a destroyed key can ever be decrypted again',
        });
      }
      return change(o, 'key.destroy', { keyName: name }, (s) => s.keys.destroy(name));
    });

  addStoreOptions(key.command('list').description('list the keys')).action((o: CommonOptions) =>
    withStore(o, async (s) => {
      const keys = await s.keys.list();
      if (o.json === true) {
        process.stdout.write(`${JSON.stringify(keys)}\n`);
        return;
      }
      for (const k of keys) {
        const active = k.versions.find((v) => v.version === k.activeVersion);
        process.stdout.write(
          `${k.name}\t${k.protocol}\t${k.state}\tv${k.activeVersion}\t${active?.spec ?? '-'}\t${active?.keyId ?? '-'}\n`,
        );
      }
    }),
  );

  addStoreOptions(
    key.command('show <name>').description('show one key: versions, policy, cache period'),
  ).action((name: string, o: CommonOptions) =>
    withStore(o, async (s) => printKey(await s.keys.describe(name), o.json === true)),
  );

  addStoreOptions(
    key
      .command('policy <name>')
      .description('replace the key policy (deny by default; docs/policy.md); without options, show it'),
  )
    .option('--file <file>', 'policy JSON: {"users":[],"groups":[],"roles":[],"tenants":[]}')
    .option('--users <list>', 'allowed user names / sub:<id> / oid:<id> (comma-separated, repeatable)', list)
    .option('--groups <list>', 'allowed groups (comma-separated, repeatable)', list)
    .option('--roles <list>', 'allowed roles (comma-separated, repeatable)', list)
    .option('--tenants <list>', 'allowed issuers or tenant ids (comma-separated, repeatable)', list)
    .action(
      (
        name: string,
        o: CommonOptions & {
          file?: string;
          users?: string[];
          groups?: string[];
          roles?: string[];
          tenants?: string[];
        },
      ) => {
        const lists = { users: o.users, groups: o.groups, roles: o.roles, tenants: o.tenants };
        const given = Object.values(lists).some((v) => v !== undefined);
        if (o.file === undefined && !given) {
          return withStore(o, async (s) => {
            const { policy } = await s.keys.describe(name);
            process.stdout.write(`${JSON.stringify(policy, null, o.json === true ? 0 : 2)}\n`);
          });
        }
        if (o.file !== undefined && given) {
          throw new DkeError('ERR_USAGE', {
            message: 'give either --file or --users/--groups/--roles/--tenants',
          });
        }
        let input: unknown = lists;
        if (o.file !== undefined) {
          try {
            input = JSON.parse(readPem(o.file)) as unknown;
          } catch (cause) {
            if (cause instanceof DkeError) throw cause;
            throw new DkeError('ERR_USAGE', { message: `${o.file} is not JSON`, cause });
          }
        }
        const policy = normalizePolicy(input);
        return change(o, 'policy.set', { keyName: name }, (s) => s.keys.setPolicy(name, policy));
      },
    );

  addStoreOptions(
    key
      .command('cache <name> <seconds>')
      .description('ms-dke: set how long clients may cache the public key (0: never)'),
  ).action((name: string, seconds: string, o: CommonOptions) =>
    change(o, 'cache.set', { keyName: name }, (s) => s.keys.setCacheSeconds(name, parseSeconds(seconds))),
  );

  for (const [verb, revoke] of [
    ['revoke', true],
    ['unrevoke', false],
  ] as const) {
    addStoreOptions(
      key
        .command(`${verb} <name> <objectId>`)
        .description(
          revoke
            ? "refuse unwraps of one object (file) under the key; the object id is shown by dke inspect (one beginning with '-' goes after '--')"
            : 'allow a revoked object again',
        ),
    ).action((name: string, objectId: string, o: CommonOptions) =>
      withStore(o, async (s) => {
        const changed = await runAudited(
          s.audit,
          { action: `cli.object.${verb}`, issuer: CLI_ISSUER, subject: osUser(), keyName: name, objectId },
          () => (revoke ? s.keys.revokeObject(name, objectId) : s.keys.unrevokeObject(name, objectId)),
        );
        if (o.json === true)
          process.stdout.write(`${JSON.stringify({ keyName: name, objectId, revoked: revoke, changed })}\n`);
        else
          info(
            `dke: object ${objectId} ${revoke ? 'revoked' : 'no longer revoked'} under ${name}${changed ? '' : ' (unchanged)'}`,
          );
      }),
    );
  }
}
