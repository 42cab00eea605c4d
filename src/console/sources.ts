/**
 * What the console's read-only pages read besides the keys (docs/console.md): the store's audit rows,
 * checkpoints and cosignatures, the log to verify, the log's transparency state (witnesses), and the
 * self-test behind the status page. Narrow on purpose: the pages cannot change anything through it.
 */
import type { DoctorReport } from '../doctor/index.js';
import type { VerifiableLog } from '../report/index.js';
import type { LogTransparency } from '../service/log-transparency.js';
import type { DkeStore } from '../store/index.js';

/** The store reads the pages need. */
export type ConsoleStore = Pick<
  DkeStore,
  | 'queryAuditRows'
  | 'iterateAuditRows'
  | 'auditActivity'
  | 'getAuditRow'
  | 'auditTail'
  | 'latestCheckpoint'
  | 'getCheckpoint'
  | 'listCheckpoints'
  | 'listCosignatures'
  | 'newestCosignatures'
  | 'listKeys'
  | 'isObjectRevoked'
>;

export interface ConsoleSources {
  readonly store: ConsoleStore;
  /** Verifies the whole log (hash chain and Merkle tree), e.g. StoreAuditLog. */
  readonly log: VerifiableLog;
  /** Checkpoints, witnesses and their cosignatures; undefined when the service runs without them. */
  readonly transparency: LogTransparency | undefined;
  /** `dke doctor`'s checks of this service (src/doctor), for the status page. */
  readonly doctor: () => Promise<DoctorReport>;
}
