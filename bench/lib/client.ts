/**
 * The load generator's HTTP client: node:http with keep-alive agents, no
 * fetch (its per-request overhead would dominate small requests on a 2-core
 * machine where the client competes with the server for CPU).
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Empty unless the body was asked for. */
  readonly body: Buffer;
}

export type Headers = Record<string, string | number>;

/** A keep-alive agent whose socket pool matches the concurrency of a scenario. */
export function agentFor(concurrency: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, scheduling: 'fifo' });
}

export function isOk(status: number): boolean {
  return status >= 200 && status < 300;
}

/** An error with the status and a snippet of the body, for reporting. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One request. `body` is written in one go (Node hands a large Buffer to the
 * socket without copying it). `keepBody` collects the response body;
 * otherwise it is drained and dropped.
 */
export function send(ep: Endpoint, agent: http.Agent, method: string, path: string, headers: Headers = {}, body?: Buffer | string, keepBody = false): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request({ host: ep.host, port: ep.port, method, path, headers, agent }, (res) => {
      const status = res.statusCode ?? 0;
      // Error bodies are kept too (small), so that failures can be described.
      if (keepBody || !isOk(status)) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status, headers: res.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }));
      } else {
        res.on('end', () => resolve({ status, headers: res.headers, body: EMPTY }));
        res.resume();
      }
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else req.end(body);
  });
}

const EMPTY = Buffer.alloc(0);

/** GET that hashes the body while it streams; resolves with the digest and the byte count. */
export function getHashed(ep: Endpoint, agent: http.Agent, path: string, headers: Headers = {}): Promise<{ status: number; digest: string; bytes: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: ep.host, port: ep.port, method: 'GET', path, headers, agent }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, bytes, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A request whose body is `source` called repeatedly until it returns
 * undefined, written with backpressure: for bodies too large to hold.
 */
export function sendStream(ep: Endpoint, agent: http.Agent, method: string, path: string, headers: Headers, source: () => Buffer | undefined): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request({ host: ep.host, port: ep.port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const pump = () => {
      for (;;) {
        const chunk = source();
        if (chunk === undefined) {
          req.end();
          return;
        }
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

/** The path and query of a Location header, absolute (the reference) or not (ours). */
export function locationPath(reply: Reply, ep: Endpoint): string {
  const loc = reply.headers.location;
  if (!loc) throw new HttpError(reply.status, `no Location header in the ${reply.status} answer`);
  const url = new URL(loc, `http://${ep.host}:${ep.port}`);
  return url.pathname + url.search;
}

export function withQuery(path: string, key: string, value: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

/** The target of a Link rel="next" header, or undefined. */
export function nextLink(reply: Reply, ep: Endpoint): string | undefined {
  const header = reply.headers.link;
  const link = Array.isArray(header) ? header.join(', ') : header;
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  if (!m) return undefined;
  const url = new URL(m[1]!, `http://${ep.host}:${ep.port}`);
  return url.pathname + url.search;
}

export function describeFailure(reply: Reply): string {
  const text = reply.body.toString('utf8', 0, Math.min(reply.body.length, 300)).replace(/\s+/g, ' ');
  return `${reply.status}${text ? ` ${text}` : ''}`;
}

/** Outcome counters of a loop. */
export class Tally {
  ok = 0;
  errors = 0;
  readonly samples: string[] = [];

  fail(what: string): void {
    this.errors++;
    if (this.samples.length < 5) this.samples.push(what);
  }

  /** Counts `reply` as ok when 2xx; returns whether it was. */
  check(reply: Reply, what = ''): boolean {
    if (isOk(reply.status)) {
      this.ok++;
      return true;
    }
    this.fail(`${what}${what ? ': ' : ''}${describeFailure(reply)}`);
    return false;
  }
}

export interface LoopResult {
  /** Operations completed inside the measured window. */
  readonly ops: number;
  /** Length of the measured window (or of the whole run for runCount), ms. */
  readonly elapsedMs: number;
  readonly errors: number;
  readonly errorSamples: string[];
  /** Latency percentiles of the operations of the window, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface WindowHooks {
  /** Called when the measured window opens (after warm-up). */
  onStart?(): void;
  /** Called when it closes, before in-flight operations finish. */
  onEnd?(): void;
}

/**
 * Runs `op` from `concurrency` workers for warmupMs + durationMs; counts the
 * operations that complete inside the window after the warm-up. `op`
 * returns false (or throws) for an error; errors are counted over the whole
 * run, warm-up included.
 */
export async function runFor(
  durationMs: number,
  warmupMs: number,
  concurrency: number,
  op: (i: number, tally: Tally) => Promise<boolean>,
  hooks: WindowHooks = {},
): Promise<LoopResult> {
  const tally = new Tally();
  const t0 = performance.now();
  const windowStart = t0 + warmupMs;
  const windowEnd = windowStart + durationMs;
  let started = false;
  let ended = false;
  const startTimer = setTimeout(() => {
    started = true;
    hooks.onStart?.();
  }, warmupMs);
  const endTimer = setTimeout(() => {
    ended = true;
    hooks.onEnd?.();
  }, warmupMs + durationMs);
  let next = 0;
  let ops = 0;
  const latencies: number[] = [];
  const worker = async () => {
    while (!ended && performance.now() < windowEnd) {
      const i = next++;
      const s = performance.now();
      let ok: boolean;
      try {
        ok = await op(i, tally);
      } catch (err) {
        tally.fail((err as Error).message);
        ok = false;
      }
      const e = performance.now();
      if (ok && e >= windowStart && e <= windowEnd) {
        ops++; // completed in the window (possibly started in the warm-up)
        if (s >= windowStart) latencies.push(e - s);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  if (!started) hooks.onStart?.();
  if (!ended) hooks.onEnd?.();
  return {
    ops,
    elapsedMs: durationMs,
    errors: tally.errors,
    errorSamples: tally.samples,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

/** Runs op(0..n-1) from `concurrency` workers; the window is the whole run. */
export async function runCount(n: number, concurrency: number, op: (i: number, tally: Tally) => Promise<boolean>, hooks: WindowHooks = {}): Promise<LoopResult> {
  const tally = new Tally();
  let next = 0;
  let ops = 0;
  const latencies: number[] = [];
  hooks.onStart?.();
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const s = performance.now();
      let ok: boolean;
      try {
        ok = await op(i, tally);
      } catch (err) {
        tally.fail((err as Error).message);
        ok = false;
      }
      if (ok) {
        ops++;
        latencies.push(performance.now() - s);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const elapsedMs = performance.now() - t0;
  hooks.onEnd?.();
  return { ops, elapsedMs, errors: tally.errors, errorSamples: tally.samples, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.max(0, Math.ceil(p * values.length) - 1))]!;
}
