/**
 * Runs the ferro-oci-server binary (dist/src/server/main.js) as a child
 * process for tests: real process, real socket.
 *
 * - spawnServer() starts it and collects its stdout/stderr lines.
 * - startServer() also waits for the "listening" log line and reads the port.
 * Every child still running when the test process exits is SIGKILLed; tests
 * should still call stop() or kill() (e.g. in t.after).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export { fetchRaw, type HttpResponse } from './http.js';

/** The compiled binary, relative to this compiled file (dist/support → dist/src/server). */
export const SERVER_MAIN = fileURLToPath(new URL('../src/server/main.js', import.meta.url));

export interface SpawnServerOptions {
  /** Added over process.env (inherited FERRO_OCI_* variables are dropped first). FERRO_OCI_LISTEN defaults to 127.0.0.1:0. */
  env?: Record<string, string | undefined>;
  args?: readonly string[];
  /** Working directory of the child; default this process's. */
  cwd?: string;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnedServer {
  readonly child: ChildProcess;
  /** Every stdout and stderr line so far, in arrival order. */
  readonly logs: string[];
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** The stdout lines that parse as JSON objects. */
  jsonLogs(): Record<string, unknown>[];
  /** Resolves with the first JSON log line (past or future) that `match` accepts; rejects on exit or timeout. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the first output line (past or future, JSON or not) that `match` accepts; rejects on exit or timeout. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** SIGKILLs the process if it still runs, and waits for it to exit. */
  kill(): Promise<ExitStatus>;
}

export interface RunningServer extends SpawnedServer {
  readonly port: number;
  /** http://127.0.0.1:<port> (or the bound address). */
  readonly url: string;
  /** Sends `signal` (default SIGTERM) and waits for exit; SIGKILLs after `timeoutMs` (default 15 s) and rejects then. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function describe(logs: readonly string[]): string {
  return logs.length === 0 ? '(no output)' : logs.slice(-30).join('\n');
}

/** Spawns the binary without waiting for anything. */
export function spawnServer(options: SpawnServerOptions = {}): SpawnedServer {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FERRO_OCI_')) env[k] = v;
  Object.assign(env, { FERRO_OCI_LISTEN: '127.0.0.1:0' }, options.env);
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];

  const child = spawn(process.execPath, [SERVER_MAIN, ...(options.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd ? { cwd: options.cwd } : {}) });
  children.add(child);
  const logs: string[] = [];
  const waiters = new Set<(line: string) => void>();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      logs.push(line);
      for (const w of [...waiters]) w(line);
    });
  }
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      // Let readline deliver the last lines before anyone looks at the logs.
      setImmediate(() => resolve({ code, signal }));
    });
  });

  const jsonLogs = () => logs.map(parseJson).filter((l): l is Record<string, unknown> => l !== undefined);

  const waitForLine = (match: (line: string) => boolean, timeoutMs = 15_000) => {
    const past = logs.find(match);
    if (past !== undefined) return Promise.resolve(past);
    return new Promise<string>((resolve, reject) => {
      const done = () => {
        waiters.delete(waiter);
        clearTimeout(timer);
      };
      const waiter = (line: string) => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${describe(logs)}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then((status) => {
        if (!waiters.has(waiter)) return;
        done();
        reject(new Error(`server exited (${status.code ?? status.signal}) before the expected log line; output:\n${describe(logs)}`));
      });
    });
  };

  const waitForLog = async (match: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    parseJson(
      await waitForLine((line) => {
        const json = parseJson(line);
        return json !== undefined && match(json);
      }, timeoutMs),
    )!;

  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };

  return { child, logs, exited, jsonLogs, waitForLog, waitForLine, kill };
}

/** Spawns the binary and resolves once it logged "listening"; kills it and rejects when it does not within `timeoutMs`. */
export async function startServer(options: SpawnServerOptions & { timeoutMs?: number } = {}): Promise<RunningServer> {
  const spawned = spawnServer(options);
  let line: Record<string, unknown>;
  try {
    line = await spawned.waitForLog((l) => l.msg === 'listening', options.timeoutMs ?? 15_000);
  } catch (err) {
    await spawned.kill();
    throw err;
  }
  const port = line.port;
  if (typeof port !== 'number') {
    await spawned.kill();
    throw new Error(`"listening" line without a numeric port: ${JSON.stringify(line)}`);
  }
  const address = typeof line.address === 'string' && line.address !== '0.0.0.0' && line.address !== '::' ? line.address : '127.0.0.1';
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitStatus> => {
    if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) return spawned.exited;
    spawned.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void spawned.kill();
        reject(new Error(`server did not exit within ${timeoutMs} ms of ${signal}; output:\n${describe(spawned.logs)}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([spawned.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return { ...spawned, port, url, stop };
}
