/**
 * Checks of `audit.log` a JSON schema cannot express (docs/config.md): witness vkeys are cosignature/v1
 * keys, no witness twice, a quorum the witnesses can meet, the fail-closed rule only with witnesses.
 * Also the default checkpoint origin.
 */
import { DkeError } from '../errors/index.js';
import { cosignatureVerifier } from '../transparency/index.js';
import type { AuditLogConfig } from './schema.js';

function invalid(message: string): DkeError {
  return new DkeError('ERR_CONFIG_INVALID', {
    message: `invalid configuration: ${message}`,
    hint: 'see docs/config.md',
  });
}

export function checkAuditLogConfig(log: AuditLogConfig): void {
  const keys = log.witnesses.map(({ vkey }, i) => {
    try {
      return cosignatureVerifier(vkey);
    } catch {
      throw invalid(`audit.log.witnesses[${i}].vkey is not a cosignature/v1 verifier key`);
    }
  });
  keys.forEach((key, i) => {
    if (keys.slice(0, i).some((other) => other.name === key.name || other.publicKey.equals(key.publicKey))) {
      throw invalid(`audit.log.witnesses[${i}] repeats a witness name or key`);
    }
  });
  if (log.quorum !== undefined && log.quorum > log.witnesses.length) {
    throw invalid('audit.log.quorum is larger than the number of witnesses');
  }
  if (log.requireCosignatureWithinSeconds !== undefined && log.witnesses.length === 0) {
    throw invalid('audit.log.requireCosignatureWithinSeconds needs audit.log.witnesses');
  }
}

/** `audit.log.origin`, else `<host of publicBaseUrl, else localhost>/opendke/audit` (host includes a port). */
export function auditLogOrigin(log: AuditLogConfig, publicBaseUrl: string | undefined): string {
  if (log.origin !== undefined) return log.origin;
  const host = publicBaseUrl === undefined ? 'localhost' : new URL(publicBaseUrl).host;
  return `${host}/opendke/audit`;
}
