/**
 * The service's certificate as Office will judge it: the chain verifies to a trusted root, it names the
 * public host, and it is within its validity period (with how long is left). Pure: works on what the TLS
 * handshake returned (src/doctor/http-probe.ts).
 */
import { checkServerIdentity } from 'node:tls';
import type { TlsInfo } from './http-probe.js';
import { finding, type Finding } from './types.js';

const DAY_MS = 86_400_000;
/** Fewer days than this left: time to renew (Let's Encrypt renews at 30, so 21 means renewal is stuck). */
export const CERTIFICATE_WARN_DAYS = 21;

const CHAIN_FIXES: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT:
    "the certificate is self-signed: Office does not trust it. Use a certificate from a public CA (e.g. Let's Encrypt); for a private CA, every client must trust it (then run doctor with --ca <file>)",
  SELF_SIGNED_CERT_IN_CHAIN:
    'the chain ends in a root nobody trusts here: use a public CA, or make every client trust your CA (and run doctor with --ca <file>)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the server does not send its intermediate certificates: set server.tls.certFile (or the proxy's certificate) to the full chain (fullchain.pem), leaf first",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    'the issuing CA is not trusted here: send the full chain (fullchain.pem); for a private CA run doctor with --ca <file>',
  CERT_HAS_EXPIRED: 'renew the certificate and restart the service (or reload the proxy)',
};

/** A certificate name field (one value, or several when the field repeats). */
function nameOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

export function checkCertificate(url: URL, tls: TlsInfo | undefined, now: number): Finding[] {
  const certificate = tls?.certificate;
  if (tls === undefined || certificate === undefined) {
    return [
      finding(
        'tls:certificate',
        'fail',
        'the server sent no certificate',
        'configure server.tls (certFile, keyFile) or the TLS proxy in front of the service',
      ),
    ];
  }
  const subject = { subject: nameOf(certificate.subject?.CN), subjectAltName: certificate.subjectaltname };
  const findings: Finding[] = [];

  if (tls.authorized) {
    findings.push(
      finding(
        'tls:chain',
        'ok',
        `certificate chain verifies (issued by ${nameOf(certificate.issuer?.CN) ?? '?'})`,
        null,
        {
          issuer: nameOf(certificate.issuer?.CN),
          protocol: tls.protocol,
        },
      ),
    );
  } else {
    const code = tls.authorizationError ?? 'unknown';
    findings.push(
      finding(
        'tls:chain',
        'fail',
        `certificate chain does not verify (${code})`,
        CHAIN_FIXES[code] ?? 'use a certificate from a CA the clients trust, and send the full chain',
        { error: code, issuer: nameOf(certificate.issuer?.CN) },
      ),
    );
  }

  const mismatch = checkServerIdentity(hostOf(url), certificate);
  findings.push(
    mismatch === undefined
      ? finding('tls:host', 'ok', `certificate is valid for ${url.hostname}`, null, subject)
      : finding(
          'tls:host',
          'fail',
          `certificate is not valid for ${url.hostname} (it names ${certificate.subjectaltname ?? nameOf(certificate.subject?.CN) ?? 'nothing'})`,
          `get a certificate whose subject alternative names include ${url.hostname}, or correct the public URL`,
          subject,
        ),
  );

  const notBefore = Date.parse(certificate.valid_from);
  const notAfter = Date.parse(certificate.valid_to);
  const dates = { notBefore: new Date(notBefore).toISOString(), notAfter: new Date(notAfter).toISOString() };
  const daysLeft = Math.floor((notAfter - now) / DAY_MS);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) {
    findings.push(
      finding('tls:expiry', 'fail', 'certificate validity dates are unreadable', 'replace the certificate'),
    );
  } else if (now < notBefore) {
    findings.push(
      finding(
        'tls:expiry',
        'fail',
        `certificate is not valid before ${dates.notBefore}`,
        'check the clock of this machine and of the service; otherwise install a certificate valid now',
        dates,
      ),
    );
  } else if (now >= notAfter) {
    findings.push(
      finding(
        'tls:expiry',
        'fail',
        `certificate expired ${dates.notAfter} (${Math.floor((now - notAfter) / DAY_MS)} days ago)`,
        CHAIN_FIXES.CERT_HAS_EXPIRED ?? null,
        { ...dates, daysLeft },
      ),
    );
  } else if (daysLeft < CERTIFICATE_WARN_DAYS) {
    findings.push(
      finding(
        'tls:expiry',
        'warn',
        `certificate expires in ${daysLeft} days (${dates.notAfter})`,
        'renew it now (automatic renewal seems stuck) and restart the service or reload the proxy',
        { ...dates, daysLeft },
      ),
    );
  } else {
    findings.push(
      finding(
        'tls:expiry',
        'ok',
        `certificate valid for ${daysLeft} more days (until ${dates.notAfter})`,
        null,
        {
          ...dates,
          daysLeft,
        },
      ),
    );
  }
  return findings;
}
