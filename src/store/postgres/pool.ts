/**
 * The bounded connection pool and the ways the store uses it: single read statements (`read`), and
 * transactions (`transaction`) for every write, all failing only with DkeErrors (./errors.ts). When PostgreSQL goes away,
 * broken connections are dropped and later calls open new ones, so the store recovers by itself once the
 * server is back; an 'error' on an idle or checked-out connection is reported, never thrown (an unhandled
 * 'error' event would crash the process).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { asStoreError, isDroppedConnection, isRetryableConflict, isUnavailable } from './errors.js';

/** Warnings the store cannot throw to a caller (a connection dying while idle, a VACUUM that failed). */
export type StoreWarning = (message: string, detail: string) => void;

/** Serialization failures and deadlocks: the transaction is run again, at most this many times in all. */
const CONFLICT_ATTEMPTS = 4;
/** Statements that met a connection dropped while idle in the pool: tried on this many connections in all. */
const DROPPED_CONNECTION_ATTEMPTS = 4;

export class PostgresPool {
  private readonly pool: pg.Pool;
  private ended: Promise<void> | undefined;

  constructor(
    config: pg.PoolConfig,
    private readonly warn: StoreWarning,
  ) {
    this.pool = new pg.Pool(config);
    // pg-pool emits 'error' when an idle connection fails (server restart: 57P01); it has already removed
    // that connection. Without a listener Node would throw it and end the process.
    this.pool.on('error', (error) => warn('an idle PostgreSQL connection failed', describe(error)));
  }

  /**
   * One read-only statement. A connection the server dropped while it sat idle in the pool (a restart,
   * pg_terminate_backend) fails its next statement before running it; a read is simply retried on another
   * connection, a few times (several idle connections may have been dropped at once).
   */
  async read<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    return this.retryDropped(() => this.pool.query<R>(config));
  }

  /** Like `read`, returning rows as arrays (no per-row objects: for long scans). */
  async readArrays<R extends unknown[]>(config: pg.QueryConfig): Promise<R[]> {
    const result = await this.retryDropped(() => this.pool.query<R>({ ...config, rowMode: 'array' }));
    return result.rows;
  }

  private async retryDropped<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        if (isDroppedConnection(error) && attempt < DROPPED_CONNECTION_ATTEMPTS) continue;
        throw asStoreError(error);
      }
    }
  }

  /**
   * Runs `work` between BEGIN and COMMIT (READ COMMITTED; `work` takes the row locks it needs) on one
   * connection. Settles after COMMIT returned, i.e. after the commit is durable (synchronous_commit on).
   * `retryConflicts`: a serialization failure or deadlock runs the whole transaction again (so `work` must
   * not have effects outside it), else it fails ERR_STORE_BUSY.
   */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>, retryConflicts = true): Promise<T> {
    let conflicts = 0;
    let dropped = 0;
    for (;;) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw asStoreError(error);
      }
      // A connection failing while checked out (no query running) emits 'error' on the client: keep it, so
      // the connection is destroyed on release instead of going back to the pool.
      let broken: Error | undefined;
      const onError = (error: Error): void => {
        broken = error;
      };
      client.on('error', onError);
      let failure: unknown;
      let begun = false;
      try {
        await client.query('BEGIN');
        begun = true;
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        failure = error;
        if (broken === undefined && !isUnavailable(error)) {
          await client.query('ROLLBACK').catch((rollbackError: unknown) => {
            broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
          });
        }
      } finally {
        client.off('error', onError);
        // Passing an error destroys the connection rather than reusing it.
        const unusable = broken ?? (isUnavailable(failure) ? (failure as Error) : undefined);
        client.release(unusable);
      }
      // BEGIN on a connection the server had dropped while it was idle: nothing ran, take another one.
      if (!begun && isDroppedConnection(failure) && ++dropped < DROPPED_CONNECTION_ATTEMPTS) continue;
      if (retryConflicts && isRetryableConflict(failure) && ++conflicts < CONFLICT_ATTEMPTS) {
        await sleep(5 * 2 ** conflicts * (0.5 + Math.random()));
        continue;
      }
      throw asStoreError(failure);
    }
  }

  /**
   * Runs `work` on one connection outside any transaction (for statements that cannot run in one, such as
   * VACUUM). A connection that failed meanwhile is destroyed on release.
   */
  async session<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw asStoreError(error);
    }
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    try {
      return await work(client);
    } catch (error) {
      if (isUnavailable(error)) broken ??= error as Error;
      throw asStoreError(error);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** `SELECT 1` within `timeoutMs` (waiting for a pool slot included); never rejects. */
  async probe(timeoutMs: number): Promise<boolean> {
    if (this.ended !== undefined) return false;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    const answered = this.pool.query('SELECT 1').then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes every connection; idempotent. */
  end(): Promise<void> {
    this.ended ??= this.pool.end().catch((error: unknown) => {
      this.warn('closing the PostgreSQL pool failed', describe(error));
    });
    return this.ended;
  }

  get closed(): boolean {
    return this.ended !== undefined;
  }
}

function describe(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const text = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' ? `${text} (${code})` : text;
}
