/**
 * The servers under test, each a child process on loopback with its own
 * storage directory: ours (dist/src/server/main.js), the reference
 * (Debian's docker-registry, CNCF distribution 2.8.2) and the bare
 * hash-fsync-rename server (bench/bare-server.ts). Plus /proc sampling of
 * CPU seconds and peak RSS.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../support/net.js';

export type TargetId = 'ours' | 'ref' | 'bare' | 'replicas' | 'events';

export const TARGET_LABEL: Record<TargetId, string> = {
  ours: 'ferro-oci-server',
  ref: 'distribution 2.8.2',
  bare: 'bare hash+fsync+rename',
  replicas: 'ferro-oci-server ×3 (PostgreSQL + S3)',
  events: 'ferro-oci-server + 1 webhook + audit file',
};

/** dist/bench/lib → dist/src/server/main.js */
export const OURS_MAIN = fileURLToPath(new URL('../../src/server/main.js', import.meta.url));
export const BARE_MAIN = fileURLToPath(new URL('../bare-server.js', import.meta.url));
export const REFERENCE_BIN = '/usr/bin/docker-registry';

export interface ServerProcess {
  readonly id: TargetId;
  /** The process answering on host:port. */
  readonly pid: number;
  /**
   * The processes whose CPU and RSS are the target's (summed): [pid] for a
   * single process; the three replicas (not the proxy) for `replicas`.
   */
  readonly pids: readonly number[];
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly child: ChildProcess;
  /** The last lines of stdout/stderr. */
  readonly logs: string[];
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves when the process is gone. */
  stop(timeoutMs?: number): Promise<void>;
}

const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of alive) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of alive) c.kill('SIGKILL');
    process.exit(130);
  });
}

function track(id: TargetId, child: ChildProcess, host: string, port: number, dir: string): ServerProcess {
  alive.add(child);
  const logs: string[] = [];
  const keep = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (line === '') continue;
      logs.push(line.length > 600 ? `${line.slice(0, 600)}…` : line);
      if (logs.length > 200) logs.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      alive.delete(child);
      resolve(code);
    });
  });
  const stop = async (timeoutMs = 15_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  };
  if (child.pid === undefined) throw new Error(`cannot start ${id}`);
  return { id, pid: child.pid, pids: [child.pid], host, port, dir, child, logs, exited, stop };
}

export { track, waitReady };

/** Polls GET /v2/ until it answers 200 (or 401), the process exits, or the timeout passes. */
async function waitReady(server: ServerProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void server.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get({ host: server.host, port: server.port, path: '/v2/', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      req.setTimeout(2000, () => req.destroy());
    });
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  await server.stop(2000);
  throw new Error(`${server.id} did not become ready on ${server.host}:${server.port}; output:\n${server.logs.slice(-30).join('\n')}`);
}

export interface StartOptions {
  readonly dir: string;
  readonly logLevel?: string;
  /** ours only: run under `node --cpu-prof` writing into this directory. */
  readonly cpuProfDir?: string;
  /** ours only: more FERRO_OCI_* settings. */
  readonly env?: Readonly<Record<string, string>>;
  /** ours only: false = no FERRO_OCI_STORAGE_DIR (e.g. PostgreSQL + S3). */
  readonly storageDir?: boolean;
}

/**
 * The Node.js flags the binary runs with: those of its `#!/usr/bin/env -S node …` line, so the
 * benchmark measures it as shipped; FERRO_BENCH_NODE_FLAGS (space-separated, may be empty) replaces
 * them to compare others.
 */
export function oursNodeFlags(): string[] {
  const override = process.env.FERRO_BENCH_NODE_FLAGS;
  if (override !== undefined) return override.split(' ').filter((f) => f !== '');
  const shebang = readFileSync(OURS_MAIN, 'utf8').split('\n', 1)[0]!;
  return shebang.split(' ').filter((f) => f.startsWith('--'));
}

export async function startOurs(opts: StartOptions): Promise<ServerProcess> {
  if (!existsSync(OURS_MAIN)) throw new Error(`${OURS_MAIN} is missing: build first (npx tsc -p .)`);
  await mkdir(opts.dir, { recursive: true });
  const port = await freePort();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FERRO_OCI_')) env[k] = v;
  Object.assign(env, {
    FERRO_OCI_LISTEN: `127.0.0.1:${port}`,
    ...(opts.storageDir === false ? {} : { FERRO_OCI_STORAGE_DIR: opts.dir }),
    FERRO_OCI_LOG_LEVEL: opts.logLevel ?? 'warn',
    ...opts.env,
  });
  const nodeArgs = [...oursNodeFlags(), ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [])];
  const child = spawn(process.execPath, [...nodeArgs, OURS_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = track('ours', child, '127.0.0.1', port, opts.dir);
  await waitReady(server);
  return server;
}

/** Throws, naming the command that installs it, when /usr/bin/docker-registry is missing (the benchmark installs nothing itself). */
export function ensureReference(): void {
  if (!existsSync(REFERENCE_BIN)) throw new Error(`${REFERENCE_BIN} is missing; run: apt-get install -y docker-registry (or run with --targets ours)`);
}

export function referenceVersion(): string {
  try {
    return execFileSync(REFERENCE_BIN, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** The reference's configuration: filesystem storage in `dir`, deletes on, warn level, no access log. */
export function referenceConfig(dir: string, port: number, logLevel = 'warn'): string {
  return [
    'version: 0.1',
    'log:',
    `  level: ${logLevel}`,
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: ferro-oci-bench',
    '',
  ].join('\n');
}

export async function startReference(opts: StartOptions): Promise<ServerProcess> {
  ensureReference();
  await mkdir(join(opts.dir, 'data'), { recursive: true });
  const port = await freePort();
  const configPath = join(opts.dir, 'config.yml');
  writeFileSync(configPath, referenceConfig(opts.dir, port, opts.logLevel ?? 'warn'));
  const child = spawn(REFERENCE_BIN, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = track('ref', child, '127.0.0.1', port, opts.dir);
  await waitReady(server);
  return server;
}

export async function startBare(opts: StartOptions): Promise<ServerProcess> {
  await mkdir(opts.dir, { recursive: true });
  const port = await freePort();
  const env = { ...process.env, BARE_LISTEN: `127.0.0.1:${port}`, BARE_DIR: opts.dir };
  const child = spawn(process.execPath, [BARE_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = track('bare', child, '127.0.0.1', port, opts.dir);
  await waitReady(server);
  return server;
}

export async function startTarget(id: TargetId, opts: StartOptions): Promise<ServerProcess> {
  if (id === 'replicas') return (await import('./replicas.js')).startReplicas(opts);
  if (id === 'events') return (await import('./events-target.js')).startEventsTarget(opts);
  return id === 'ours' ? startOurs(opts) : id === 'ref' ? startReference(opts) : startBare(opts);
}

// ---------------------------------------------------------------- /proc

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcStat {
  /** User CPU seconds, all threads. */
  readonly userS: number;
  /** System CPU seconds, all threads. */
  readonly sysS: number;
  /** Minor page faults (e.g. fresh anonymous memory being touched). */
  readonly minorFaults: number;
}

/** CPU time and page faults of a process (all its threads), from /proc/<pid>/stat. */
export function procStat(pid: number): ProcStat {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, minflt 10, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tps = ticksPerSecond();
  return { userS: Number(rest[11]) / tps, sysS: Number(rest[12]) / tps, minorFaults: Number(rest[7]) };
}

/** User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const s = procStat(pid);
  return s.userS + s.sysS;
}

export interface MemoryStatus {
  /** VmRSS, bytes. */
  readonly rss: number;
  /** VmHWM (peak RSS since start or the last reset), bytes. */
  readonly hwm: number;
}

export function memoryStatus(pid: number): MemoryStatus {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/**
 * Resets VmHWM to the current RSS (echo 5 > /proc/<pid>/clear_refs, Linux
 * ≥ 4.0) and returns the peak it had before. false in `reset` when the
 * kernel refused: then VmHWM keeps counting from the process start.
 */
export function resetPeak(pid: number): { previousHwm: number; reset: boolean } {
  const previousHwm = memoryStatus(pid).hwm;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return { previousHwm, reset: true };
  } catch {
    return { previousHwm, reset: false };
  }
}
