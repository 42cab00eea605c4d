/**
 * `dke audit report`: the incident report (docs/audit.md "Incident report") over the read-only store:
 * verify the whole log first (the integrity statement), then stream the records of the baseline and the
 * window through the report builder. A log that fails verification still gets its report, headed FAILED,
 * and the command exits 10 after writing it.
 */
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { Option } from 'commander';
import { DkeError } from '../../errors/index.js';
import { resolveStoreConfig, type StoreFlags } from '../../config/index.js';
import { openAuditStoreAt } from '../../keystore/index.js';
import {
  hourFunction,
  produceIncidentReport,
  reportFilter,
  REPORT_FORMATS as FORMATS,
  REPORT_RENDERERS as RENDER,
  type IncidentReport,
  type ReportFormat as Format,
} from '../../report/index.js';
import { writeOutput } from '../io.js';

/** Without --since, the report covers the 7 days before --until. */
const DEFAULT_WINDOW_MS = 7 * 86_400_000;

interface ReportOptions extends StoreFlags {
  readonly since?: string;
  readonly until?: string;
  readonly key?: string;
  readonly object?: string;
  readonly subject?: string;
  readonly format: Format;
  readonly timezone?: string;
  readonly output?: string;
  readonly force?: boolean;
  /** The store options' --json: the same as --format json. */
  readonly json?: boolean;
}

function parseTime(value: string): string {
  const time = new Date(value);
  if (Number.isNaN(time.getTime()))
    throw new DkeError('ERR_USAGE', { message: `not an ISO-8601 date or time: ${value}` });
  return time.toISOString();
}

function parseTimezone(value: string): string {
  try {
    hourFunction(value);
  } catch {
    throw new DkeError('ERR_USAGE', { message: `unknown time zone: ${value}` });
  }
  return value;
}

function nonEmpty(value: string): string {
  if (value === '') throw new DkeError('ERR_USAGE', { message: 'filter values must not be empty' });
  return value;
}

export function registerAuditReport(audit: Command, addStoreOptions: (command: Command) => Command): void {
  addStoreOptions(
    audit
      .command('report')
      .description('incident report: key releases, refusals, admin changes, per-subject volume and outliers'),
  )
    .option('--since <time>', 'window start, ISO-8601 (default: 7 days before --until)', parseTime)
    .option('--until <time>', 'window end, exclusive, ISO-8601 (default: now)', parseTime)
    .option('--key <name>', 'only records of this key', nonEmpty)
    .option('--object <objectId>', 'only records of this object id', nonEmpty)
    .option('--subject <sub>', 'only records of this token subject', nonEmpty)
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('md'))
    .option('--timezone <zone>', 'IANA time zone for the unusual-hours rule (default UTC)', parseTimezone)
    .option('-o, --output <file>', 'write the report to this file (atomically; default standard output)')
    .option('-f, --force', 'replace an existing output file')
    .addHelpText(
      'after',
      '\n--json is --format json. The report is headed by the integrity statement (the whole log is verified first). Exits 10' +
        '\n(ERR_AUDIT_CHAIN_BROKEN) after writing the report when verification failed.',
    )
    .action(async (o: ReportOptions) => {
      const until = o.until ?? new Date().toISOString();
      const since = o.since ?? new Date(Date.parse(until) - DEFAULT_WINDOW_MS).toISOString();
      if (Date.parse(since) >= Date.parse(until))
        throw new DkeError('ERR_USAGE', { message: '--since must be before --until' });
      const filter = reportFilter({
        since,
        until,
        keyName: o.key,
        objectId: o.object,
        subject: o.subject,
        timezone: o.timezone,
      });
      const { database, postgres } = resolveStoreConfig(o);
      const store = await openAuditStoreAt({ dbPath: database, readonly: true, postgres });
      let report: IncidentReport;
      try {
        report = await produceIncidentReport({ log: store.audit, store: store.store }, filter);
      } finally {
        await store.close();
      }
      const text = RENDER[o.json === true ? 'json' : o.format](report);
      await writeOutput(Readable.from([Buffer.from(text, 'utf8')]) as AsyncIterable<Uint8Array>, o.output, {
        force: o.force === true,
        mode: 0o600,
      });
      const broken = report.integrity.firstBroken;
      if (!report.integrity.verified)
        throw new DkeError('ERR_AUDIT_CHAIN_BROKEN', {
          message: `audit log chain is broken at record ${broken?.seq ?? '?'}: ${broken?.reason ?? 'unknown'}`,
          hint: 'the report was written, headed by the FAILED integrity statement',
        });
    });
}
