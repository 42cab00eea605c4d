/**
 * `dke --help` and each file command's `--help` list every flag the command defines (taken from the
 * command definitions themselves, and from a fixed list so a dropped flag is noticed); usage errors exit 2
 * with `dke: error:` and a hint, never a stack trace.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerKeygen } from '../../src/cli/commands/keygen.js';
import { registerEncrypt } from '../../src/cli/commands/encrypt.js';
import { registerDecrypt } from '../../src/cli/commands/decrypt.js';
import { registerInspect } from '../../src/cli/commands/inspect.js';
import { EXIT } from '../../src/errors/index.js';
import { assertCliError, runCli as run, tempDir } from '../support/format-helpers.js';

// Usage errors must not create files, but run in a scratch directory anyway.
const cwd = await tempDir();
const runCli = (args: readonly string[]): ReturnType<typeof run> => run(args, { cwd });

/** The flags each command must offer (docs and scripts rely on them). */
const EXPECTED: Record<string, string[]> = {
  keygen: ['-o', '--output', '-t', '--type', '--passphrase-file', '-q', '--quiet', '-h', '--help'],
  encrypt: ['-H', '--holder', '-o', '--output', '-f', '--force', '--passphrase-file', '-h', '--help'],
  decrypt: [
    '-i',
    '--identity',
    '-k',
    '--key-service',
    '-o',
    '--output',
    '-f',
    '--force',
    '--passphrase-file',
    '--token-file',
    '--oidc-issuer',
    '--client-id',
    '--client-secret-file',
    '--audience',
    '-h',
    '--help',
  ],
  inspect: ['--json', '-h', '--help'],
};

/** The flags as defined in the source, so a new flag without help text would be noticed too. */
function definedFlags(): Map<string, string[]> {
  const program = new Command('dke');
  for (const register of [registerKeygen, registerEncrypt, registerDecrypt, registerInspect])
    register(program);
  const flags = new Map<string, string[]>();
  for (const command of program.commands) {
    flags.set(
      command.name(),
      command.options.flatMap((option) =>
        [option.short, option.long].filter((flag): flag is string => flag !== undefined),
      ),
    );
  }
  return flags;
}

/** The flag tokens in a help text's Options section. */
function helpFlags(help: string): Set<string> {
  const section = help.split(/^Options:$/m)[1] ?? '';
  return new Set(
    [...section.matchAll(/(?:^|[\s,])(--?[a-zA-Z][\w-]*)/gm)].map((match) => match[1] as string),
  );
}

void describe('dke help and usage errors', { concurrency: 4 }, () => {
  void test('dke --help lists the file commands and the global flags', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    const help = result.stdout.toString();
    assert.match(help, /^Usage: dke /m);
    for (const command of ['keygen', 'encrypt', 'decrypt', 'inspect', 'help']) {
      assert.match(help, new RegExp(`^  ${command} `, 'm'), `lists ${command}`);
    }
    for (const flag of ['-V', '--version', '-h', '--help'])
      assert.ok(helpFlags(help).has(flag), `lists ${flag}`);
    assert.equal(result.stderr, '');
  });

  for (const name of Object.keys(EXPECTED)) {
    void test(`dke ${name} --help lists every flag`, async () => {
      const defined = definedFlags().get(name) ?? [];
      for (const flag of EXPECTED[name]!.filter((f) => f !== '-h' && f !== '--help')) {
        assert.ok(defined.includes(flag), `${name} defines ${flag}`);
      }
      const result = await runCli([name, '--help']);
      assert.equal(result.code, 0);
      const help = result.stdout.toString();
      assert.match(help, new RegExp(`^Usage: dke ${name} `, 'm'));
      const shown = helpFlags(help);
      for (const flag of [...EXPECTED[name]!, ...defined])
        assert.ok(shown.has(flag), `${name} --help shows ${flag}`);
      if (name === 'keygen') {
        for (const type of ['P-256', 'P-384', 'P-521', 'RSA-3072', 'RSA-4096'])
          assert.ok(help.includes(type), `type ${type}`);
      }
    });
  }

  void test('dke help <command> is the same text as <command> --help', async () => {
    const [viaHelp, viaFlag] = await Promise.all([
      runCli(['help', 'decrypt']),
      runCli(['decrypt', '--help']),
    ]);
    assert.equal(viaHelp.code, 0);
    assert.equal(viaHelp.stdout.toString(), viaFlag.stdout.toString());
  });

  void test('--version prints the version', async () => {
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.match(result.stdout.toString(), /^\d+\.\d+\.\d+\n$/);
  });

  void test('an unknown option exits 2 with dke: error: and a hint', async () => {
    for (const args of [['--bogus'], ['encrypt', '--bogus'], ['decrypt', '--no-such-flag', 'x']]) {
      const result = await runCli(args);
      assertCliError(result, EXIT.USAGE, ['unknown option']);
      assert.match(result.stderr, /^dke: hint: /m);
    }
  });

  void test("an object id beginning with '-' as an operand: the hint says to put it after '--'", async () => {
    const objectId = '-AbCdEfGhIjKlMnOpQrStU'; // 22 characters of base64url, as `dke inspect` shows them
    const result = await runCli(['key', 'revoke', 'finance', objectId, '--database', 'never.db']);
    assertCliError(result, EXIT.USAGE, ['unknown option']);
    assert.match(result.stderr, /^dke: hint: an object id that begins with '-' goes after '--'/m);
    const other = await runCli(['encrypt', '--bogus']);
    assert.doesNotMatch(other.stderr, /object id/);
  });

  void test('an unknown command, a missing required option or argument, a bad choice: exit 2', async () => {
    const cases: [string[], string][] = [
      [['frobnicate'], 'unknown command'],
      [['keygen'], '--output'],
      [['inspect'], 'missing required argument'],
      [['keygen', '-o', 'never-written.key', '-t', 'P-999'], 'P-999'],
    ];
    await Promise.all(
      cases.map(async ([args, mention]) => {
        assertCliError(await runCli(args), EXIT.USAGE, [mention]);
      }),
    );
  });
});
