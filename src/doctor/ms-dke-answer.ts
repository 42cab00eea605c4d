/**
 * Does one answer to `GET /{keyName}` look exactly as Office expects (docs/ms-dke.md, the shared MS DKE
 * reference)? Status 200, JSON, `key.kty` "RSA", `key.n` standard padded base64 of an RSA-2048 modulus,
 * `key.e` a JSON number, `key.alg` "RS256", `key.kid` = label URL + "/" + the key's RFC 7638 thumbprint, and
 * an optional `cache.exp` as `yyyy-MM-ddTHH:mm:ss` (UTC) in the future. Pure: no network.
 */
import { createHash } from 'node:crypto';
import { fromStdBase64 } from '../protocols/ms-dke/encoding.js';
import { labelUrl } from './public-url.js';

export interface KeyAnswer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly location?: string | undefined;
  readonly body: string;
}

export interface KeyAnswerExpectations {
  readonly keyName: string;
  /** The public base URL (no trailing slash). */
  readonly baseUrl: string;
  /** Now, by the service's clock when known (cache.exp is written by it), in ms. */
  readonly now: number;
  /** The active version's key id, when the store or admin API told us. */
  readonly activeKeyId?: string | undefined;
}

export interface AnswerProblem {
  readonly status: 'warn' | 'fail';
  readonly text: string;
  readonly fix: string;
}

export interface KeyAnswerReport {
  readonly problems: readonly AnswerProblem[];
  readonly keyId?: string;
  readonly modulusBits?: number;
  readonly exponent?: number;
  readonly cacheExp?: string;
}

const CACHE_EXP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const KEY_ID = /^[A-Za-z0-9_-]{43}$/;

function fail(text: string, fix: string): AnswerProblem {
  return { status: 'fail', text, fix };
}
function warn(text: string, fix: string): AnswerProblem {
  return { status: 'warn', text, fix };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7638 thumbprint of an RSA public key: what OpenDKE (and the reference service) use as key id. */
export function rsaThumbprint(modulus: Buffer, exponent: number): string {
  const hex = exponent.toString(16);
  const e = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex').toString('base64url');
  const n = modulus.toString('base64url');
  return createHash('sha256').update(`{"e":"${e}","kty":"RSA","n":"${n}"}`).digest('base64url');
}

function modulusBits(modulus: Buffer): number {
  let start = 0;
  while (start < modulus.length && modulus[start] === 0) start += 1;
  if (start === modulus.length) return 0;
  return (modulus.length - start - 1) * 8 + (modulus[start] ?? 0).toString(2).length;
}

function statusProblem(answer: KeyAnswer, keyName: string): AnswerProblem | undefined {
  const { status } = answer;
  if (status === 200) return undefined;
  if (status === 403) {
    return fail(
      '403 Forbidden: the key is disabled, Office cannot encrypt new content to it',
      `dke key enable ${keyName} if it was disabled by mistake; otherwise take it out of the label`,
    );
  }
  if (status === 400) {
    return fail(
      '400: there is no ms-dke key of that name (unknown, a native key, or destroyed)',
      `key names are case-sensitive: compare with dke key list; create one with dke key create ${keyName} --protocol ms-dke`,
    );
  }
  if (status === 404) {
    return fail(
      '404: no such route here: is a proxy adding or keeping a path prefix?',
      'the label URL must reach GET /{keyName} of the service: check the proxy rules and server.publicBaseUrl',
    );
  }
  if (status >= 300 && status < 400) {
    return fail(
      `${status} redirect to ${answer.location ?? '?'}: Office does not follow it`,
      'put the final https URL in the label and in server.publicBaseUrl',
    );
  }
  return fail(`HTTP ${status}`, 'look at the service log for this request (and at /healthz)');
}

function checkModulus(n: unknown): { problems: AnswerProblem[]; modulus?: Buffer } {
  if (typeof n !== 'string')
    return {
      problems: [fail('key.n is missing or not a string', 'serve the key with a standard MS DKE service')],
    };
  const modulus = fromStdBase64(n);
  if (modulus === undefined) {
    const url = /^[A-Za-z0-9_-]+$/.test(n) && Buffer.from(n, 'base64url').length > 0;
    return {
      problems: [
        fail(
          url
            ? 'key.n is base64url: Office wants standard base64 with padding'
            : 'key.n is not standard padded base64',
          'encode the modulus as standard base64 (+ and /, = padding), as the reference service does',
        ),
      ],
    };
  }
  const bits = modulusBits(modulus);
  if (bits < 2048)
    return {
      modulus,
      problems: [
        fail(
          `key.n is a ${bits}-bit modulus: too small`,
          'use RSA-2048 (dke key rotate <name> --spec RSA-2048)',
        ),
      ],
    };
  if (bits > 2048) {
    return {
      modulus,
      problems: [
        warn(
          `RSA-${bits}: accepted, but only RSA-2048 is documented and verified with Office`,
          'prefer RSA-2048 for keys Office uses (dke key rotate <name> --spec RSA-2048)',
        ),
      ],
    };
  }
  return { modulus, problems: [] };
}

function checkExponent(e: unknown): { problems: AnswerProblem[]; exponent?: number } {
  if (typeof e === 'string') {
    return {
      problems: [
        fail('key.e is a string: Office wants a JSON number (65537)', 'send e as a number, not a string'),
      ],
    };
  }
  if (typeof e !== 'number' || !Number.isSafeInteger(e) || e < 3 || e % 2 === 0) {
    return {
      problems: [fail(`key.e is ${JSON.stringify(e)}: not a usable RSA exponent`, 'use the exponent 65537')],
    };
  }
  if (e !== 65537)
    return {
      exponent: e,
      problems: [warn(`key.e is ${e}, not the usual 65537`, 'prefer keys with e = 65537')],
    };
  return { exponent: e, problems: [] };
}

function checkKid(
  kid: unknown,
  expect: KeyAnswerExpectations,
  thumbprint: string | undefined,
): { problems: AnswerProblem[]; keyId?: string } {
  const label = labelUrl(expect.baseUrl, expect.keyName);
  if (typeof kid !== 'string')
    return { problems: [fail('key.kid is missing', 'serve a kid of the form <label URL>/<key id>')] };
  if (!kid.startsWith(`${label}/`)) {
    let hint = `it must start with ${label}/ (the label URL)`;
    if (kid.includes('//', kid.indexOf('://') + 3))
      hint = 'it holds "//": a trailing slash in the base URL or the label';
    else if (kid.startsWith('http://') && label.startsWith('https://'))
      hint = 'it says http although clients use https: the service does not know it is behind TLS';
    return {
      problems: [
        fail(
          `key.kid ${kid} does not match the label URL ${label} (${hint})`,
          'set server.publicBaseUrl to the URL clients use (or list the TLS proxy in server.trustedProxies); documents remember this kid, so fix it before labels are used',
        ),
      ],
    };
  }
  const keyId = kid.slice(label.length + 1);
  if (!KEY_ID.test(keyId)) {
    return {
      problems: [
        fail(
          `key.kid ends in ${JSON.stringify(keyId)}, not a key id`,
          'the kid is <label URL>/<43-character key id>, no query or trailing slash',
        ),
      ],
    };
  }
  const problems: AnswerProblem[] = [];
  if (thumbprint !== undefined && keyId !== thumbprint) {
    problems.push(
      fail(
        'key.kid names another key than the one served (its key id is not the thumbprint of n and e)',
        'the service serves a mismatched key: re-import the key',
      ),
    );
  }
  if (expect.activeKeyId !== undefined && keyId !== expect.activeKeyId) {
    problems.push(
      fail(
        `the service serves key id ${keyId}, but the store's active version is ${expect.activeKeyId}`,
        'the running service uses another store than the config names: check store.database, and restart it',
      ),
    );
  }
  return { keyId, problems };
}

function checkCache(cache: unknown, now: number): { problems: AnswerProblem[]; cacheExp?: string } {
  if (cache === undefined) return { problems: [] };
  const exp = isObject(cache) ? cache.exp : undefined;
  if (typeof exp !== 'string' || !CACHE_EXP.test(exp)) {
    return {
      problems: [
        fail(
          `cache.exp is ${JSON.stringify(exp)}, not yyyy-MM-ddTHH:mm:ss`,
          'send cache.exp as UTC yyyy-MM-ddTHH:mm:ss, without zone, or no cache member',
        ),
      ],
    };
  }
  const at = Date.parse(`${exp}Z`);
  if (Number.isNaN(at))
    return {
      cacheExp: exp,
      problems: [fail(`cache.exp ${exp} is not a valid time`, 'send a valid UTC time')],
    };
  if (at <= now) {
    return {
      cacheExp: exp,
      problems: [
        fail(
          `cache.exp ${exp} is already past: Office would not cache the key`,
          "check the service's clock (chrony/NTP)",
        ),
      ],
    };
  }
  return { cacheExp: exp, problems: [] };
}

/** Checks one GET answer; an empty `problems` list means Office gets exactly what it expects. */
export function checkKeyAnswer(answer: KeyAnswer, expect: KeyAnswerExpectations): KeyAnswerReport {
  const status = statusProblem(answer, expect.keyName);
  if (status !== undefined) return { problems: [status] };
  const type = (answer.contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    return {
      problems: [
        fail(
          `Content-Type is ${answer.contentType ?? 'missing'}, not application/json`,
          'answer with Content-Type: application/json (a proxy rewriting it?)',
        ),
      ],
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return {
      problems: [
        fail(
          'the answer is not JSON',
          'a proxy or another application answers at this URL: check the label URL',
        ),
      ],
    };
  }
  if (!isObject(body) || !isObject(body.key)) {
    return {
      problems: [
        fail(
          'the answer has no "key" object',
          'this URL does not serve an MS DKE public key: check the label URL',
        ),
      ],
    };
  }
  const key = body.key;
  const problems: AnswerProblem[] = [];
  if (key.kty !== 'RSA')
    problems.push(
      fail(
        `key.kty is ${JSON.stringify(key.kty)}, not "RSA"`,
        'MS DKE keys are RSA: create the key with --protocol ms-dke',
      ),
    );
  if (key.alg !== 'RS256')
    problems.push(
      fail(
        `key.alg is ${JSON.stringify(key.alg)}, not "RS256" (clients check it)`,
        'send alg "RS256" as the reference service does',
      ),
    );
  const n = checkModulus(key.n);
  const e = checkExponent(key.e);
  const thumbprint =
    n.modulus !== undefined && e.exponent !== undefined ? rsaThumbprint(n.modulus, e.exponent) : undefined;
  const kid = checkKid(key.kid, expect, thumbprint);
  const cache = checkCache(body.cache, expect.now);
  problems.push(...n.problems, ...e.problems, ...kid.problems, ...cache.problems);
  return {
    problems,
    ...(kid.keyId === undefined ? {} : { keyId: kid.keyId }),
    ...(n.modulus === undefined ? {} : { modulusBits: modulusBits(n.modulus) }),
    ...(e.exponent === undefined ? {} : { exponent: e.exponent }),
    ...(cache.cacheExp === undefined ? {} : { cacheExp: cache.cacheExp }),
  };
}
