/** `dke inspect`: what a file's header says, without any key (nothing here is authenticated yet). */
import type { Command } from 'commander';
import { createReadStream, promises as fs } from 'node:fs';
import { DkeError } from '../../errors/index.js';
import { readHeader } from '../../client/read-header.js';
import { serializeHeader } from '../../format/header.js';
import { TAG_LENGTH } from '../../format/constants.js';
import { toB64url } from '../../crypto/encoding.js';
import { readShareHeader } from '../../format/share-jwe.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      'show format version, object id, holders and sizes of an OpenDKE file (no key needed; unauthenticated)',
    )
    .argument('<file>', 'the OpenDKE file')
    .option('--json', 'print JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      const stats = await fs.stat(file).catch((cause: unknown) => {
        throw new DkeError('ERR_IO', { message: `cannot read ${file}`, cause });
      });
      const stream = createReadStream(file, { end: 256 * 1024 });
      const { header } = await readHeader(stream).finally(() => stream.destroy());
      const headerLength = serializeHeader(header).length;
      const payload = stats.size - headerLength;
      const sealedChunk = 2 ** header.chunkLog2 + TAG_LENGTH;
      const chunks = Math.max(1, Math.ceil(payload / sealedChunk));
      const plaintextSize = payload - chunks * TAG_LENGTH;
      const report = {
        file,
        format: `OpenDKE v${header.version}`,
        objectId: toB64url(header.objectId),
        chunkSize: 2 ** header.chunkLog2,
        headerBytes: headerLength,
        fileBytes: stats.size,
        chunks,
        plaintextBytes: plaintextSize >= 0 ? plaintextSize : null,
        holders: header.stanzas.map((stanza) => {
          let alg: string | null = null;
          try {
            alg = readShareHeader(stanza.body).alg;
          } catch {
            alg = null;
          }
          return {
            type: stanza.type,
            keyId: stanza.keyId,
            locator: stanza.locator === '' ? null : stanza.locator,
            wrap: alg,
          };
        }),
      };
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const lines = [
        `file:        ${report.file}`,
        `format:      ${report.format} (header not yet authenticated: inspect uses no key)`,
        `object id:   ${report.objectId}`,
        `chunk size:  ${report.chunkSize} bytes`,
        `sizes:       ${report.fileBytes} bytes on disk, header ${report.headerBytes}, ${report.chunks} chunk(s), plaintext ${report.plaintextBytes ?? 'invalid'} bytes`,
        `holders:     ${report.holders.length}`,
        ...report.holders.map(
          (h, i) =>
            `  ${i + 1}. ${h.type} key ${h.keyId}${h.locator === null ? '' : ` at ${h.locator}`} (${h.wrap ?? 'unreadable wrap'})`,
        ),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
