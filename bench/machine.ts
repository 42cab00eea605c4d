/** What the numbers were measured on: CPU, cores, memory, Node, OpenSSL, peer tool versions, load. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { GiB, markdownTable, num, versionOf } from './util.js';

export interface MachineInfo {
  readonly cpuModel: string;
  /** Processors listed in /proc/cpuinfo. */
  readonly cpuinfoProcessors: number | undefined;
  /** What Node may use (os.availableParallelism: affinity and cgroup aware). */
  readonly availableParallelism: number;
  readonly totalMemoryBytes: number;
  readonly node: string;
  /** `openssl version` (the command-line tool used for `openssl speed`). */
  readonly opensslCli: string | undefined;
  /** process.versions.openssl (what node:crypto uses). */
  readonly opensslNode: string | undefined;
  readonly kernel: string;
  readonly age: string | undefined;
  readonly gpg: string | undefined;
  /** 1, 5 and 15 minute load averages: above ~0.3 the machine was not quiet. */
  readonly loadAverage: readonly number[];
}

function cpuinfo(): { model: string | undefined; processors: number | undefined } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim();
    const processors = text.match(/^processor\s*:/gm)?.length;
    return { model, processors };
  } catch {
    return { model: undefined, processors: undefined };
  }
}

export function machineInfo(): MachineInfo {
  const info = cpuinfo();
  return {
    cpuModel: info.model ?? os.cpus()[0]?.model ?? 'unknown',
    cpuinfoProcessors: info.processors,
    availableParallelism: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    opensslCli: versionOf('openssl', ['version']),
    opensslNode: process.versions.openssl,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    age: versionOf('age', ['--version']),
    gpg: versionOf('gpg', ['--version']),
    loadAverage: os.loadavg(),
  };
}

export function machineMarkdown(machine: MachineInfo, loadAtEnd: readonly number[]): string {
  const load = (values: readonly number[]): string => values.map((v) => num(v, 2)).join(' / ');
  return markdownTable(
    ['Machine', ''],
    [
      ['CPU', machine.cpuModel],
      [
        'Cores',
        `${machine.cpuinfoProcessors ?? '?'} in /proc/cpuinfo, ${machine.availableParallelism} available to Node`,
      ],
      ['Memory', `${num(machine.totalMemoryBytes / GiB, 1)} GiB`],
      ['Kernel', machine.kernel],
      ['Node', machine.node],
      ['OpenSSL (node:crypto)', machine.opensslNode ?? '–'],
      ['OpenSSL (CLI)', machine.opensslCli ?? 'not installed'],
      ['age', machine.age ?? 'not installed'],
      ['gpg', machine.gpg ?? 'not installed'],
      ['Load average at start (1/5/15 min)', load(machine.loadAverage)],
      ['Load average at end (1/5/15 min)', load(loadAtEnd)],
    ],
  );
}
