/**
 * The one registry of OpenDKE errors. Every error the library, CLI or key service raises has a stable
 * code here, with the HTTP status the key service answers and the exit code the CLI returns.
 * docs/errors.md lists the same table; test/errors-registry.test.ts keeps the two in step.
 *
 * `message` is the public text: safe to show any client. Internal detail (file paths, library
 * messages, stack traces) goes in `DkeError.detail`, which is logged but never sent over HTTP.
 */
export interface ErrorSpec {
  /** HTTP status the key service answers with. */
  readonly status: number;
  /** Process exit code of the CLI. */
  readonly exit: number;
  /** Public, stable description. */
  readonly message: string;
}

export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  IO: 3,
  FORMAT: 4,
  KEY: 5,
  DECRYPT: 6,
  REMOTE: 7,
  DENIED: 8,
  CONFIG: 9,
  AUDIT: 10,
  CHECKS_FAILED: 11,
} as const;

export const ERRORS = {
  // --- general ---
  ERR_INTERNAL: { status: 500, exit: EXIT.INTERNAL, message: 'internal error' },
  ERR_USAGE: { status: 400, exit: EXIT.USAGE, message: 'invalid usage' },
  ERR_IO: { status: 500, exit: EXIT.IO, message: 'input/output error' },
  ERR_INPUT_CHANGED: { status: 500, exit: EXIT.IO, message: 'the input file changed while it was read' },
  ERR_CONFIG_INVALID: { status: 500, exit: EXIT.CONFIG, message: 'invalid configuration' },

  // --- file format (docs/format.md) ---
  ERR_FORMAT_MALFORMED: { status: 400, exit: EXIT.FORMAT, message: 'malformed OpenDKE header' },
  ERR_FORMAT_UNSUPPORTED_VERSION: {
    status: 400,
    exit: EXIT.FORMAT,
    message: 'unsupported OpenDKE format version',
  },
  ERR_HOLDER_TYPE_UNSUPPORTED: { status: 400, exit: EXIT.FORMAT, message: 'unsupported holder type' },
  ERR_HOLDER_BINDING_MISMATCH: {
    status: 400,
    exit: EXIT.FORMAT,
    message: 'holder stanza is not bound to this object and key',
  },
  ERR_TOO_FEW_HOLDERS: {
    status: 400,
    exit: EXIT.USAGE,
    message: 'an OpenDKE object needs at least two holders',
  },
  ERR_DECRYPTION_FAILED: { status: 400, exit: EXIT.DECRYPT, message: 'decryption failed' },

  // --- holder keys (docs/keys.md) ---
  ERR_HOLDER_KEY_MISSING: { status: 400, exit: EXIT.KEY, message: 'no key for a holder of this file' },
  ERR_HOLDER_UNWRAP_FAILED: { status: 400, exit: EXIT.KEY, message: 'a holder could not unwrap its share' },
  ERR_KEY_INVALID: { status: 400, exit: EXIT.KEY, message: 'invalid key' },
  ERR_KEY_TOO_WEAK: { status: 400, exit: EXIT.KEY, message: 'key is weaker than policy allows' },
  ERR_KEY_PASSPHRASE: { status: 400, exit: EXIT.KEY, message: 'wrong passphrase or damaged key file' },

  // --- remote holder client ---
  ERR_REMOTE_UNAVAILABLE: { status: 502, exit: EXIT.REMOTE, message: 'key service unreachable' },
  ERR_REMOTE_PROTOCOL: { status: 502, exit: EXIT.REMOTE, message: 'unexpected answer from key service' },
  ERR_REMOTE_DENIED: { status: 403, exit: EXIT.DENIED, message: 'key service refused the request' },
  ERR_REMOTE_UNAUTHENTICATED: { status: 401, exit: EXIT.DENIED, message: 'key service needs a valid token' },

  // --- key service: requests ---
  ERR_BAD_REQUEST: { status: 400, exit: EXIT.USAGE, message: 'bad request' },
  ERR_NOT_FOUND: { status: 404, exit: EXIT.USAGE, message: 'not found' },
  ERR_PAYLOAD_TOO_LARGE: { status: 413, exit: EXIT.USAGE, message: 'request body too large' },
  ERR_HEADERS_TOO_LARGE: { status: 431, exit: EXIT.USAGE, message: 'request headers too large' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, exit: EXIT.USAGE, message: 'unsupported media type' },
  ERR_TIMEOUT: { status: 408, exit: EXIT.REMOTE, message: 'request timed out' },

  // --- key service: authentication and authorization (docs/protocol.md) ---
  ERR_AUTH_MISSING: { status: 401, exit: EXIT.DENIED, message: 'authentication required' },
  ERR_AUTH_INVALID: { status: 401, exit: EXIT.DENIED, message: 'invalid token' },
  ERR_FORBIDDEN: { status: 403, exit: EXIT.DENIED, message: 'not authorized for this key' },
  ERR_OBJECT_REVOKED: { status: 403, exit: EXIT.DENIED, message: 'access to this object was revoked' },
  ERR_ADMIN_REQUIRED: { status: 403, exit: EXIT.DENIED, message: 'admin role required' },
  ERR_RATE_LIMITED: {
    status: 429,
    exit: EXIT.DENIED,
    message: 'too many failed authentication attempts, retry later',
  },

  // --- console (docs/console.md) ---
  ERR_CONSOLE_SIGNIN_REQUIRED: { status: 401, exit: EXIT.DENIED, message: 'sign in to the console' },
  ERR_CONSOLE_SIGNIN_FAILED: { status: 400, exit: EXIT.DENIED, message: 'console sign-in failed' },
  ERR_CONSOLE_ROLE_REQUIRED: {
    status: 403,
    exit: EXIT.DENIED,
    message: 'no console role: ask for the admin or auditor role',
  },
  ERR_CSRF: { status: 403, exit: EXIT.DENIED, message: 'missing or invalid CSRF token or origin' },
  ERR_CONSOLE_ISSUER_UNAVAILABLE: {
    status: 503,
    exit: EXIT.REMOTE,
    message: 'the sign-in issuer is unreachable, retry later',
  },
  ERR_CONSOLE_BUSY: {
    status: 503,
    exit: EXIT.IO,
    message: 'the console is busy (another report, or too many live audit feeds): retry in a moment',
  },

  // --- key service: key store (docs/keys.md) ---
  ERR_KEY_NOT_FOUND: { status: 404, exit: EXIT.KEY, message: 'unknown key' },
  ERR_KEY_EXISTS: { status: 409, exit: EXIT.KEY, message: 'a key with this name exists' },
  ERR_KEY_DISABLED: { status: 403, exit: EXIT.DENIED, message: 'key is disabled' },
  ERR_KEY_DESTROYED: { status: 410, exit: EXIT.KEY, message: 'key was destroyed' },
  ERR_MASTER_KEY: { status: 500, exit: EXIT.CONFIG, message: 'master key unavailable or wrong' },
  ERR_STORE_BUSY: { status: 503, exit: EXIT.IO, message: 'key store busy, retry later' },
  ERR_STORE_UNAVAILABLE: { status: 503, exit: EXIT.IO, message: 'key store unreachable, retry later' },
  ERR_HSM_UNAVAILABLE: { status: 503, exit: EXIT.IO, message: 'key token unavailable, retry later' },
  // `dke store copy` (docs/storage.md, "Copying a store"): it never merges into a used store, and a copy that
  // does not read back equal to its source is reported, never used.
  ERR_STORE_NOT_EMPTY: { status: 409, exit: EXIT.USAGE, message: 'the target key store is not empty' },
  ERR_STORE_COPY_MISMATCH: {
    status: 500,
    exit: EXIT.IO,
    message: 'the copied key store differs from its source',
  },

  // --- audit log (docs/audit.md) ---
  ERR_AUDIT_UNAVAILABLE: { status: 503, exit: EXIT.AUDIT, message: 'audit log unavailable' },
  ERR_AUDIT_CHAIN_BROKEN: { status: 500, exit: EXIT.AUDIT, message: 'audit log chain is broken' },
  ERR_PROOF_INVALID: {
    status: 422,
    exit: EXIT.AUDIT,
    message: 'proof, checkpoint or signature does not verify',
  },
  ERR_WITNESS_UNKNOWN_LOG: {
    status: 404,
    exit: EXIT.AUDIT,
    message: 'this witness does not witness that log',
  },
  ERR_WITNESS_FORK: {
    status: 409,
    exit: EXIT.AUDIT,
    message: 'checkpoint conflicts with the one this witness cosigned at that size',
  },
  ERR_WITNESS_SIGNATURE_INVALID: {
    status: 403,
    exit: EXIT.AUDIT,
    message: "checkpoint is not signed by the log's configured key",
  },
  // Client side only (dke decrypt with a pinned log key): the key service's audit evidence for a share.
  ERR_RECEIPT_MISSING: { status: 502, exit: EXIT.AUDIT, message: 'key service sent no audit receipt' },
  ERR_RECEIPT_INVALID: { status: 502, exit: EXIT.AUDIT, message: 'audit receipt does not verify' },
  ERR_NOT_WITNESSED: {
    status: 503,
    exit: EXIT.AUDIT,
    message: 'audit log not recently cosigned by enough witnesses',
  },

  // --- self-test (docs/doctor.md); raised by `dke doctor` only, never answered by the key service ---
  ERR_CHECKS_FAILED: { status: 503, exit: EXIT.CHECKS_FAILED, message: 'the self-test found failures' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;
