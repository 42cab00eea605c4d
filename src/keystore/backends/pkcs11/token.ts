/**
 * One PKCS#11 token as the service uses it: the module initialized with OS locking, the slot found by
 * its label, the user logged in, and a bounded pool of sessions, one operation in flight per session.
 *
 * Failure handling (docs/hsm.md "When the token goes away"): an operation that sees a lost session or
 * device fails with ERR_HSM_UNAVAILABLE and puts the token in `recovering`; from then on every operation
 * fails at once (fail closed) until a reconnection (close sessions, C_Finalize, C_Initialize, find the
 * slot by label again, log in, reopen the pool) succeeds. Reconnection waits until no operation is in
 * flight, because finalizing a module under a running call crashes some modules (NSS's softoken does),
 * then retries with back-off, by itself, until the token is back. A refused PIN is never retried as is:
 * real tokens lock after a few wrong PINs; the loop only tries again once the PIN file or variable
 * holds a different PIN.
 *
 * The module is process-wide state (one C_Initialize per process), so tokens are shared: `acquireToken`
 * returns a lease on the one Pkcs11Token for a module path, and the last lease released finalizes it.
 */
import { createHash } from 'node:crypto';
import { DkeError } from '../../../errors/index.js';
import {
  ck,
  CKS_RW_USER_FUNCTIONS,
  NativeError,
  PKCS11,
  Pkcs11Error,
  type Handle,
  type Pkcs11,
} from './binding.js';
import {
  DEFAULT_ACQUIRE_TIMEOUT_MS,
  DEFAULT_SESSIONS,
  readPin,
  validatePkcs11Config,
  type Pkcs11Config,
} from './config.js';
import { describeFailure, failureKind, internal, unavailable } from './errors.js';

export type TokenState = 'ready' | 'recovering' | 'unavailable' | 'refused' | 'closed';

export interface TokenHealth {
  /** True when operations are being served. */
  readonly ok: boolean;
  readonly state: TokenState;
  readonly tokenLabel: string;
  readonly sessions: number;
  readonly busy: number;
  readonly waiting: number;
  /** Successful reconnections since the token was opened. */
  readonly reconnects: number;
  /** When the token entered this state (ISO-8601). */
  readonly since: string;
  /** Internal detail of the failure that caused a non-ready state: for logs, not for clients. */
  readonly lastError?: string;
}

export interface TokenOptions {
  /**
   * When the token cannot be reached at open: false (default) throws; true returns a lease in state
   * `unavailable` that keeps trying in the background (a service that starts before its HSM).
   */
  readonly waitForToken?: boolean;
  /** Back-off between reconnection attempts; default 100 ms doubling up to 5 s. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Called on every state change (for the service log) until the lease is released. */
  readonly onStateChange?: (health: TokenHealth) => void;
}

interface Session {
  readonly handle: Handle;
  /** The connection generation it was opened in; stale sessions are dropped on release. */
  readonly generation: number;
  busy: boolean;
}

interface Waiter {
  readonly resolve: (session: Session) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/** What a unit of token work gets: the module, a session of its own, and the token's generation. */
export interface SessionContext {
  readonly p11: Pkcs11;
  readonly session: Handle;
  /** Object handles are valid within one generation; a reconnection starts a new one. */
  readonly generation: number;
}

const SESSION_FLAGS = ck.CKF_SERIAL_SESSION | ck.CKF_RW_SESSION;

export class Pkcs11Token {
  private readonly p11: Pkcs11;
  private readonly sessionCount: number;
  private readonly acquireTimeoutMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly listeners = new Set<(health: TokenHealth) => void>();
  private state: TokenState = 'unavailable';
  private since = new Date();
  private lastError: string | undefined;
  private sessions: Session[] = [];
  private waiters: Waiter[] = [];
  private inFlight = 0;
  private onDrained: (() => void) | undefined;
  private gen = 0;
  private reconnects = -1; // the first connection is not a reconnection
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private recovering = false;
  /** SHA-256 of a PIN the token refused, so the same PIN is not tried again. */
  private refusedPin: string | undefined;

  constructor(
    readonly config: Pkcs11Config,
    options: TokenOptions = {},
  ) {
    validatePkcs11Config(config);
    this.sessionCount = config.sessions ?? DEFAULT_SESSIONS;
    this.acquireTimeoutMs = config.acquireTimeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS;
    this.retryMinMs = options.retryMinMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 5000;
    this.retryDelay = this.retryMinMs;
    this.p11 = new PKCS11();
    try {
      this.p11.load(config.module);
    } catch (cause) {
      throw new DkeError('ERR_CONFIG_INVALID', {
        message: 'cannot load the pkcs11 module',
        detail: `${config.module}: ${describeFailure(cause)}`,
        cause,
      });
    }
  }

  get generation(): number {
    return this.gen;
  }

  get tokenLabel(): string {
    return this.config.tokenLabel;
  }

  addListener(listener: (health: TokenHealth) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** First connection. Throws (ERR_HSM_UNAVAILABLE, ERR_CONFIG_INVALID) unless `background`. */
  start(background: boolean): void {
    try {
      this.connect();
    } catch (error) {
      if (!background) throw error;
      this.scheduleRetry();
    }
  }

  /**
   * Runs `work` on a session of its own. Fails at once with ERR_HSM_UNAVAILABLE unless the token is
   * ready; waits at most acquireTimeoutMs for a free session. A lost token or session inside `work`
   * becomes ERR_HSM_UNAVAILABLE and starts the reconnection; other errors pass through to the caller.
   */
  async withSession<T>(what: string, work: (context: SessionContext) => Promise<T>): Promise<T> {
    const session = await this.acquire(what);
    let poisoned = false;
    try {
      return await work({ p11: this.p11, session: session.handle, generation: session.generation });
    } catch (error) {
      const kind = failureKind(error);
      if (kind === 'lost') {
        this.lost(`${what}: ${describeFailure(error)}`);
        throw unavailable(`${what}: ${describeFailure(error)}`, error);
      }
      // An unexpected failure may leave an operation active in the session: replace it.
      poisoned = kind === 'other' && !(error instanceof DkeError);
      throw error;
    } finally {
      this.release(session, poisoned);
    }
  }

  /**
   * The token's state; when ready, also asks the token (C_GetSessionInfo on an idle session, a cheap call)
   * so a token that went away while idle is noticed here and not only by the next operation.
   */
  health(): TokenHealth {
    if (this.state === 'ready') {
      const idle = this.sessions.find((s) => !s.busy);
      if (idle !== undefined) {
        try {
          const info = this.p11.C_GetSessionInfo(idle.handle);
          if (info.state !== CKS_RW_USER_FUNCTIONS) this.lost('the session is no longer logged in');
        } catch (error) {
          this.lost(`health check: ${describeFailure(error)}`);
        }
      }
    }
    return this.snapshot();
  }

  /** Stops reconnecting, fails waiting operations, waits for running ones, closes sessions, finalizes. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed', undefined);
    clearTimeout(this.retryTimer);
    this.rejectWaiters('the token was closed');
    await this.drain();
    this.closeSessionsQuietly();
    try {
      this.p11.C_Finalize();
    } catch {
      // Already finalized (e.g. underneath, by another user of the module): nothing left to release.
    }
  }

  // ---------------------------------------------------------------- sessions

  private acquire(what: string): Promise<Session> {
    if (this.state !== 'ready') {
      return Promise.reject(
        unavailable(`${what}: token "${this.tokenLabel}" is ${this.state}: ${this.lastError ?? ''}`),
      );
    }
    const idle = this.sessions.find((s) => !s.busy);
    if (idle !== undefined) {
      idle.busy = true;
      this.inFlight++;
      return Promise.resolve(idle);
    }
    return new Promise<Session>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(
            unavailable(
              `${what}: all ${this.sessionCount} sessions of token "${this.tokenLabel}" stayed busy for ${this.acquireTimeoutMs} ms`,
            ),
          );
        }, this.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private release(session: Session, poisoned: boolean): void {
    session.busy = false;
    this.inFlight--;
    if (this.state !== 'ready' || session.generation !== this.gen) {
      if (this.inFlight === 0) this.onDrained?.();
      return;
    }
    let next = session;
    if (poisoned) {
      try {
        next = this.replaceSession(session);
      } catch (error) {
        this.lost(`reopening a session: ${describeFailure(error)}`);
        return;
      }
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      next.busy = true;
      this.inFlight++;
      waiter.resolve(next);
    }
  }

  private replaceSession(old: Session): Session {
    try {
      this.p11.C_CloseSession(old.handle);
    } catch {
      // Closing is best effort; the new session is what matters.
    }
    const fresh: Session = {
      handle: this.p11.C_OpenSession(this.slotHandle(), SESSION_FLAGS),
      generation: this.gen,
      busy: false,
    };
    this.sessions = this.sessions.map((s) => (s === old ? fresh : s));
    return fresh;
  }

  private slot: Handle | undefined;

  private slotHandle(): Handle {
    if (this.slot === undefined) throw unavailable('no slot');
    return this.slot;
  }

  // ---------------------------------------------------------------- connection and recovery

  /** A lost session or device: fail closed, and reconnect once nothing is in flight. */
  private lost(detail: string): void {
    if (this.state !== 'ready') return;
    this.setState('recovering', detail);
    this.rejectWaiters(detail);
    void this.recover();
  }

  private async recover(): Promise<void> {
    if (this.recovering) return;
    this.recovering = true;
    try {
      await this.drain();
      this.attempt();
    } finally {
      this.recovering = false;
    }
  }

  private attempt(): void {
    if (this.state === 'closed') return;
    try {
      this.connect();
    } catch {
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.state === 'closed') return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.attempt(), this.retryDelay);
    // Reconnecting alone must not keep a process (a CLI command) alive.
    this.retryTimer.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
  }

  /** (Re)connects from scratch; on failure sets the state and throws the DkeError. */
  private connect(): void {
    let pin: string;
    try {
      pin = readPin(this.config);
    } catch (error) {
      this.setState('unavailable', describeFailure(error));
      throw error;
    }
    const pinHash = createHash('sha256').update(pin).digest('hex');
    if (pinHash === this.refusedPin) {
      const detail = `token "${this.tokenLabel}" refused this PIN before; not trying it again`;
      this.setState('refused', detail);
      throw unavailable(detail, undefined, 'put the right PIN in the PIN file or variable');
    }
    this.closeSessionsQuietly();
    try {
      this.p11.C_Finalize();
    } catch {
      // Not initialized (first connection, or finalized underneath): expected.
    }
    try {
      this.initialize();
      this.slot = this.findSlot();
      const generation = this.gen + 1;
      const sessions: Session[] = [];
      for (let i = 0; i < this.sessionCount; i++) {
        sessions.push({
          handle: this.p11.C_OpenSession(this.slot, SESSION_FLAGS),
          generation,
          busy: false,
        });
      }
      this.sessions = sessions;
      this.login(sessions[0] as Session, pin, pinHash);
      this.gen = generation;
    } catch (error) {
      this.closeSessionsQuietly();
      const dke = toConnectError(this.tokenLabel, error);
      this.setState(this.refusedPin === pinHash ? 'refused' : 'unavailable', dke.detail ?? dke.message);
      throw dke;
    }
    this.retryDelay = this.retryMinMs;
    this.reconnects++;
    this.setState('ready', undefined);
  }

  private initialize(): void {
    try {
      this.p11.C_Initialize({
        flags: ck.CKF_OS_LOCKING_OK,
        // pkcs11js 2.1 copies one character less than the string's length: the padding space is
        // what it drops, so the module gets the parameters whole.
        ...(this.config.libraryParameters === undefined
          ? {}
          : { libraryParameters: `${this.config.libraryParameters} ` }),
      });
    } catch (error) {
      if (error instanceof Pkcs11Error && error.code === ck.CKR_CRYPTOKI_ALREADY_INITIALIZED) return;
      throw error;
    }
  }

  private findSlot(): Handle {
    const matching = this.p11
      .C_GetSlotList(true)
      .filter((slot) => this.p11.C_GetTokenInfo(slot).label.trim() === this.tokenLabel.trim());
    if (matching.length === 0) throw unavailable(`no token labelled "${this.tokenLabel}" is present`);
    if (matching.length > 1)
      throw new DkeError('ERR_CONFIG_INVALID', {
        message: `${matching.length} tokens are labelled "${this.tokenLabel}"; labels must be unique`,
      });
    return matching[0] as Handle;
  }

  private login(session: Session, pin: string, pinHash: string): void {
    try {
      this.p11.C_Login(session.handle, ck.CKU_USER, pin);
    } catch (error) {
      // Login state is per application and token: another lease (or a reconnection) may have done it.
      if (error instanceof Pkcs11Error && error.code === ck.CKR_USER_ALREADY_LOGGED_IN) return;
      if (failureKind(error) === 'login') this.refusedPin = pinHash;
      throw error;
    }
    this.refusedPin = undefined;
  }

  private closeSessionsQuietly(): void {
    for (const session of this.sessions) {
      try {
        this.p11.C_CloseSession(session.handle);
      } catch {
        // Already gone with the token or the module.
      }
    }
    this.sessions = [];
  }

  private drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onDrained = () => {
        this.onDrained = undefined;
        resolve();
      };
    });
  }

  private rejectWaiters(detail: string): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(unavailable(detail));
    }
  }

  private setState(state: TokenState, lastError: string | undefined): void {
    const changed = state !== this.state || lastError !== this.lastError;
    if (state !== this.state) this.since = new Date();
    this.state = state;
    this.lastError = lastError;
    if (!changed) return;
    const health = this.snapshot();
    for (const listener of this.listeners) listener(health);
  }

  private snapshot(): TokenHealth {
    return {
      ok: this.state === 'ready',
      state: this.state,
      tokenLabel: this.tokenLabel,
      sessions: this.sessions.length,
      busy: this.inFlight,
      waiting: this.waiters.length,
      reconnects: Math.max(0, this.reconnects),
      since: this.since.toISOString(),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }
}

function toConnectError(label: string, error: unknown): DkeError {
  if (error instanceof DkeError) return error;
  const kind = failureKind(error);
  if (kind === 'login') {
    return unavailable(
      `token "${label}" refused the login: ${describeFailure(error)}`,
      error,
      'check the PIN (keys.backends.pkcs11.pinFile or pinEnv)',
    );
  }
  if (error instanceof Pkcs11Error || error instanceof NativeError) {
    return unavailable(`connecting to token "${label}": ${describeFailure(error)}`, error);
  }
  return internal(`connecting to token "${label}"`, error);
}

// ---------------------------------------------------------------- sharing per module

interface SharedToken {
  readonly token: Pkcs11Token;
  leases: number;
}

const shared = new Map<string, SharedToken>();

/** A hold on a shared token; `release` finalizes it once no other lease holds it. */
export interface TokenLease {
  readonly token: Pkcs11Token;
  release(): Promise<void>;
}

/**
 * The token for `config`, connected (or, with waitForToken, connecting in the background). One module is
 * initialized once per process, so a second configuration naming the same module must name the same token.
 */
export function acquireToken(config: Pkcs11Config, options: TokenOptions = {}): TokenLease {
  validatePkcs11Config(config);
  let entry = shared.get(config.module);
  if (entry !== undefined && entry.token.tokenLabel !== config.tokenLabel) {
    throw new DkeError('ERR_CONFIG_INVALID', {
      message: 'one pkcs11 module can serve one token per process',
      detail: `${config.module} is open for token "${entry.token.tokenLabel}", not "${config.tokenLabel}"`,
    });
  }
  if (entry === undefined) {
    const token = new Pkcs11Token(config, options);
    try {
      token.start(options.waitForToken === true);
    } catch (error) {
      void token.close();
      throw error;
    }
    entry = { token, leases: 0 };
    shared.set(config.module, entry);
  }
  const stopListening =
    options.onStateChange === undefined ? undefined : entry.token.addListener(options.onStateChange);
  entry.leases++;
  const held = entry;
  let released = false;
  return {
    token: held.token,
    async release() {
      if (released) return;
      released = true;
      stopListening?.();
      held.leases--;
      if (held.leases > 0) return;
      if (shared.get(config.module) === held) shared.delete(config.module);
      await held.token.close();
    },
  };
}
