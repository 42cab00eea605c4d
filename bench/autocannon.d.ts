/**
 * The part of autocannon's programmatic API (v8/v9) the benchmark uses; the package ships no types.
 * https://github.com/mcollina/autocannon#api
 */
declare module 'autocannon' {
  export interface AutocannonOptions {
    readonly url: string;
    readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD';
    readonly headers?: Readonly<Record<string, string>>;
    readonly body?: string;
    readonly connections?: number;
    /** Seconds. */
    readonly duration?: number;
    /** Requests per second over all connections (each connection gets its share, per second). */
    readonly overallRate?: number;
    readonly pipelining?: number;
    /** Seconds before a request counts as a timeout. */
    readonly timeout?: number;
  }

  export interface AutocannonHistogram {
    readonly average: number;
    readonly mean: number;
    readonly stddev: number;
    readonly min: number;
    readonly max: number;
    readonly total?: number;
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p99_9: number;
  }

  export interface AutocannonResult {
    readonly latency: AutocannonHistogram;
    readonly requests: AutocannonHistogram & { readonly sent: number };
    readonly throughput: AutocannonHistogram;
    /** Seconds. */
    readonly duration: number;
    readonly errors: number;
    readonly timeouts: number;
    readonly non2xx: number;
    readonly resets: number;
    readonly '2xx': number;
    readonly statusCodeStats: Readonly<Record<string, { readonly count: number }>>;
  }

  export interface AutocannonInstance extends PromiseLike<AutocannonResult> {
    /** Every response: its status, size and latency in milliseconds (hrtime-based, fractional). */
    on(
      event: 'response',
      listener: (client: unknown, statusCode: number, responseBytes: number, responseTimeMs: number) => void,
    ): this;
    on(event: 'error', listener: (error: Error) => void): this;
    stop(): void;
  }

  export default function autocannon(options: AutocannonOptions): AutocannonInstance;
}
