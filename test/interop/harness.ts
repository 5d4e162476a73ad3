/**
 * The interop harness: runs one client's scenario against the ferro-oci-server
 * binary (dist/src/server/main.js) in each server mode, one `it` per step.
 *
 * - Server modes: in memory; filesystem + SQLite; filesystem + SQLite with a
 *   restart of the server (SIGTERM, same storage dir and port) between the
 *   push and the pull phase (see StepApi.restartPoint). INTEROP_MODES
 *   (comma separated ids) picks a subset.
 * - Commands run with a time limit in their own process group; their
 *   stdout/stderr are kept per step. When a step fails, its error message
 *   carries the commands' output, the server's log lines of that time
 *   window and the tail of the client's daemon log, so that the failure can
 *   be understood from the CI log alone.
 * - Per-mode and per-client pass counts are printed as test diagnostics by
 *   the final "summary" test of each file.
 * - Daemons are started by PID in temp dirs and stopped in `after` hooks
 *   (SIGTERM, then SIGKILL of their process group); a process 'exit'
 *   handler kills whatever is left.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { fetchRaw, startServer, type HttpResponse, type RunningServer } from '../helpers/server-process.js';
import { ACCEPT_MANIFESTS, blobPath, digestOf, ensureImages, MT, type BuiltImages, type Descriptor } from './images.js';

// ---------------------------------------------------------------------------
// Server modes

export interface ServerMode {
  readonly id: 'memory' | 'fs' | 'fs-restart';
  readonly label: string;
  /** FERRO_OCI_STORAGE_DIR is set (filesystem blobs + SQLite metadata). */
  readonly storage: boolean;
  /** The server is restarted between the push and the pull phase. */
  readonly restart: boolean;
}

export const SERVER_MODES: readonly ServerMode[] = [
  { id: 'memory', label: 'in-memory', storage: false, restart: false },
  { id: 'fs', label: 'filesystem+sqlite', storage: true, restart: false },
  { id: 'fs-restart', label: 'filesystem+sqlite, restart between push and pull', storage: true, restart: true },
];

function selectedModes(): readonly ServerMode[] {
  const wanted = process.env.INTEROP_MODES?.split(',').map((s) => s.trim()).filter(Boolean);
  return wanted && wanted.length > 0 ? SERVER_MODES.filter((m) => wanted.includes(m.id)) : SERVER_MODES;
}

// ---------------------------------------------------------------------------
// Child processes

/** Per-command time limit (ms); INTEROP_STEP_TIMEOUT in seconds. */
export const COMMAND_TIMEOUT_MS = Number(process.env.INTEROP_STEP_TIMEOUT ?? 180) * 1000;

export interface CommandResult {
  readonly command: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  /** stdout as bytes (binary-safe). */
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
  readonly ms: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  /** stdin contents. */
  input?: string | Buffer;
  /** stdout is binary: kept in stdoutBytes only, not shown in failure messages. */
  binaryStdout?: boolean;
}

export class CommandError extends Error {
  constructor(readonly result: CommandResult) {
    const why = result.signal ? `killed by ${result.signal}` : `exit ${result.code}`;
    super(`command failed (${why}): ${result.command}\n${lastLines(result.stderr || result.stdout, 8)}`);
    this.name = 'CommandError';
  }
}

/** Every command output of the running step goes here (see Transcript). */
let currentTranscript: CommandResult[] | undefined;

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function lastLines(text: string, n: number): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.length <= n ? lines.join('\n') : [`… (${lines.length - n} earlier lines)`, ...lines.slice(-n)].join('\n');
}

/** Runs a command (own process group, time limit, output captured); throws CommandError on failure. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const command = [cmd, ...args].map(quote).join(' ');
  const started = Date.now();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...options.env })) if (v !== undefined) env[k] = v;
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    commands.add(child);
    child.once('exit', () => commands.delete(child));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    const limit = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, limit);
    child.once('error', (e) => {
      clearTimeout(timer);
      const result: CommandResult = { command, code: null, signal: null, stdout: '', stdoutBytes: Buffer.alloc(0), stderr: String(e), ms: Date.now() - started };
      currentTranscript?.push(result);
      reject(new CommandError(result));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (timedOut ? `\n[interop] timed out after ${limit / 1000} s: process group killed\n` : '');
      const bytes = Buffer.concat(out);
      const stdout = options.binaryStdout ? `(${bytes.length} bytes of binary output)` : bytes.toString('utf8');
      const result: CommandResult = { command, code, signal, stdout, stdoutBytes: bytes, stderr, ms: Date.now() - started };
      currentTranscript?.push(result);
      if (code === 0 || options.allowFailure) resolve(result);
      else reject(new CommandError(result));
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

/** A long-running process started by the suite (containerd, dockerd). */
export class Daemon {
  private exitedFlag = false;
  readonly exited: Promise<void>;
  private readonly log: WriteStream;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        this.exitedFlag = true;
        daemons.delete(this);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return !this.exitedFlag;
  }

  /** Starts `cmd` in its own process group, output appended to `logFile`; waits until `ready()` is true. */
  static async start(name: string, cmd: string, args: readonly string[], options: { logFile: string; ready: () => Promise<boolean>; timeoutMs?: number; env?: Record<string, string> }): Promise<Daemon> {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...options.env } });
    const daemon = new Daemon(name, child, options.logFile);
    daemons.add(daemon);
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
      if (failed) throw new Error(`${name}: cannot start ${cmd}: ${failed.message}`);
      if (!daemon.running) throw new Error(`${name} (pid ${child.pid}) exited during startup; its log:\n${await daemon.logTail(60)}`);
      if (await options.ready().catch(() => false)) return daemon;
      if (Date.now() > deadline) {
        await daemon.stop();
        throw new Error(`${name} (pid ${child.pid}) not ready within ${(options.timeoutMs ?? 60_000) / 1000} s; its log:\n${await daemon.logTail(60)}`);
      }
    }
  }

  /** SIGTERM, wait up to `graceMs`, then SIGKILL of its process group (it may have children, e.g. dockerd's containerd). */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
      const outcome = await Promise.race([this.exited.then(() => 'exited' as const), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') killGroup(this.child, 'SIGKILL');
      await this.exited;
    }
    // Children left in its group (normally none) go too.
    killGroup(this.child, 'SIGKILL');
    await new Promise<void>((r) => this.log.end(() => r()));
  }

  async logTail(lines = 40): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return lastLines(text, lines) || '(empty)';
  }

  /** Log length now, for logSince(). */
  async logSize(): Promise<number> {
    const f = await open(this.logFile, 'r').catch(() => undefined);
    if (!f) return 0;
    try {
      return (await f.stat()).size;
    } finally {
      await f.close();
    }
  }

  async logSince(offset: number, lines = 40): Promise<string> {
    const buf = await readFile(this.logFile).catch(() => Buffer.alloc(0));
    return lastLines(buf.subarray(offset).toString('utf8'), lines);
  }
}

const daemons = new Set<Daemon>();
/** Client commands still running. */
const commands = new Set<ChildProcess>();

function killEverything(): void {
  for (const c of commands) killGroup(c, 'SIGKILL');
  for (const d of daemons) killGroup(d.child, 'SIGKILL');
  for (const dir of [...liveDirs].reverse()) {
    unmountUnder(dir);
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      /* best effort on the way out */
    }
  }
  liveDirs.clear();
}

// Daemons and commands run in process groups of their own: nothing of them may outlive this process,
// also when it is interrupted (process.exit runs the 'exit' handlers, which also stop the servers).
process.once('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killEverything();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

/** Temp dirs made by tempDir() and not removed yet (removed on an interrupt too). */
const liveDirs = new Set<string>();

/** A fresh temp dir `base`/`prefix`XXXXXX (base: $TMPDIR); remove it with removeDir(). */
export async function tempDir(prefix: string, base = tmpdir()): Promise<string> {
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, prefix));
  liveDirs.add(dir);
  return dir;
}

/**
 * Lazily unmounts whatever is mounted at or under `dir` (dockerd bind-mounts
 * its data-root onto itself; a SIGKILLed dockerd leaves that mount behind).
 */
function unmountUnder(dir: string): void {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return;
  }
  const points = mounts
    .split('\n')
    .map((line) => (line.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of points) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* not ours to fix: rm reports what is left */
    }
  }
}

/** Unmounts anything left under `dir`, then removes it. */
export async function removeDir(dir: string | undefined): Promise<void> {
  if (!dir) return;
  unmountUnder(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch((err: unknown) => {
    process.stderr.write(`[interop] could not remove ${dir}: ${String(err)}\n`);
  });
  liveDirs.delete(dir);
}

/** Is `cmd` on PATH? */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// containers/image blob-info cache isolation

let bicSupport: Promise<boolean> | undefined;

/**
 * containers/image (skopeo, podman, buildah) keeps a blob-info cache under
 * /var/lib/containers/cache when run as root, shared by every run: it
 * remembers where blobs were pushed and turns later uploads into cross-repo
 * mounts. Each mode gets a private cache: the command runs in a new mount
 * namespace (unshare -m) with an empty dir bind-mounted over that path.
 * Without root or unshare the shared cache is used.
 */
export function privateBlobInfoCacheSupported(): Promise<boolean> {
  bicSupport ??= (async () => {
    if (process.getuid?.() !== 0 || !which('unshare')) return false;
    const probe = await tempDir('ferro-oci-bic.');
    try {
      await mkdir('/var/lib/containers/cache', { recursive: true });
      const r = await run('unshare', ['-m', '--', 'sh', '-c', 'mount --bind "$0" /var/lib/containers/cache', probe], { allowFailure: true, timeoutMs: 10_000 });
      return r.code === 0;
    } catch {
      return false;
    } finally {
      await removeDir(probe);
    }
  })();
  return bicSupport;
}

/** argv that runs `cmd args` with `cacheDir` as its containers/image blob-info cache (when supported). */
export async function withBlobInfoCache(cacheDir: string, cmd: string, args: readonly string[]): Promise<[string, string[]]> {
  if (!(await privateBlobInfoCacheSupported())) return [cmd, [...args]];
  return ['unshare', ['-m', '--', 'sh', '-c', 'mount --bind "$0" /var/lib/containers/cache && exec "$@"', cacheDir, cmd, ...args]];
}

// ---------------------------------------------------------------------------
// The registry under test

export interface RequestRecord {
  readonly reqId: string;
  readonly method: string;
  readonly url: string;
  readonly status: number | undefined;
}

export interface ManifestResponse {
  readonly status: number;
  /** sha256 of the body bytes actually served. */
  readonly digest: string;
  readonly headerDigest: string | undefined;
  readonly contentType: string | undefined;
  readonly body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

export interface LogMark {
  readonly instance: number;
  readonly line: number;
}

/**
 * How a suite's server is started beyond its mode (see ClientSuiteOptions.server),
 * e.g. with access control on.
 */
export interface ServerSetup {
  /** Extra environment of the server process (e.g. FERRO_OCI_CONFIG), kept across restarts. */
  readonly env?: Record<string, string>;
  /**
   * Headers for the suite's own HTTP reads through Registry.request() (e.g. a
   * bearer token for `path`); not used when the caller passes an Authorization header.
   */
  readonly authorize?: (registry: Registry, method: string, path: string) => Promise<Record<string, string>>;
}

/** ferro-oci-server as a child process, in one mode; keeps the log lines of every instance (restarts). */
export class Registry {
  private readonly instances: RunningServer[] = [];
  private constructor(
    readonly mode: ServerMode,
    readonly storageDir: string | undefined,
    readonly setup: ServerSetup = {},
  ) {}

  static async start(mode: ServerMode, storageDir: string | undefined, setup: ServerSetup = {}): Promise<Registry> {
    const registry = new Registry(mode, storageDir, setup);
    await registry.startInstance('127.0.0.1:0');
    return registry;
  }

  private async startInstance(listen: string): Promise<void> {
    const env: Record<string, string | undefined> = { ...this.setup.env, FERRO_OCI_LISTEN: listen, FERRO_OCI_LOG_LEVEL: 'info' };
    if (this.storageDir) env.FERRO_OCI_STORAGE_DIR = this.storageDir;
    this.instances.push(await startServer({ env }));
  }

  private get current(): RunningServer {
    return this.instances[this.instances.length - 1]!;
  }

  get port(): number {
    return this.current.port;
  }

  /** host:port as clients name it. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  get pid(): number | undefined {
    return this.current.child.pid;
  }

  /** Stops the server with SIGTERM and starts it again on the same port and storage. */
  async restart(): Promise<void> {
    const port = this.port;
    const status = await this.current.stop('SIGTERM');
    if (status.code !== 0) throw new Error(`server exited with ${status.code ?? status.signal} on SIGTERM`);
    let lastError: unknown;
    // The port was just released; retry briefly in case the kernel still holds it.
    for (let i = 0; i < 20; i++) {
      try {
        await this.startInstance(`127.0.0.1:${port}`);
        return;
      } catch (err) {
        lastError = err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    throw lastError;
  }

  async stop(): Promise<void> {
    await this.current.stop('SIGTERM').catch(() => this.current.kill());
  }

  private syncs = 0;

  /**
   * Waits until the server has logged everything it did so far: sends a
   * request with a unique X-Request-Id and waits for its "request completed"
   * line (the log lines of a client's requests may arrive after the client
   * exited).
   */
  async sync(timeoutMs = 10_000): Promise<void> {
    const id = `interop-sync-${process.pid}-${++this.syncs}`;
    const server = this.current;
    const seen = server.waitForLog((l) => l.reqId === id && typeof l.res === 'object', timeoutMs);
    await this.request('GET', '/v2/', { 'x-request-id': id });
    await seen;
  }

  mark(): LogMark {
    return { instance: this.instances.length - 1, line: this.current.logs.length };
  }

  /** The server's output lines since `mark` (across restarts). */
  linesSince(mark: LogMark): string[] {
    const lines: string[] = [];
    for (let i = mark.instance; i < this.instances.length; i++) {
      const inst = this.instances[i]!;
      if (i > mark.instance) lines.push(`[interop] ---- server restarted (pid ${inst.child.pid}) ----`);
      lines.push(...inst.logs.slice(i === mark.instance ? mark.line : 0));
    }
    return lines;
  }

  /** The HTTP requests logged since `mark` (from the "incoming request" and "request completed" lines). */
  requestsSince(mark: LogMark): RequestRecord[] {
    const byId = new Map<string, { method: string; url: string; status?: number }>();
    const order: string[] = [];
    for (const line of this.linesSince(mark)) {
      if (!line.startsWith('{')) continue;
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const id = typeof j.reqId === 'string' ? j.reqId : undefined;
      if (!id) continue;
      const req = j.req as { method?: string; url?: string } | undefined;
      const res = j.res as { statusCode?: number } | undefined;
      if (req?.method && req.url && !byId.has(id)) {
        byId.set(id, { method: req.method, url: req.url });
        order.push(id);
      } else if (res?.statusCode !== undefined && byId.has(id)) {
        byId.get(id)!.status = res.statusCode;
      }
    }
    return order.map((id) => ({ reqId: id, ...byId.get(id)! })) as RequestRecord[];
  }

  // --- plain HTTP reads (fresh connection per request: nothing lingers across restarts)

  async request(method: string, path: string, headers: Record<string, string | number> = {}, body?: Uint8Array | string): Promise<HttpResponse> {
    const given = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
    const auth = this.setup.authorize && !given ? await this.setup.authorize(this, method, path) : {};
    return fetchRaw(this.url + path, { method, headers: { ...auth, ...headers }, body, timeoutMs: 60_000 });
  }

  async manifest(repo: string, ref: string): Promise<ManifestResponse> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${ref}`, { accept: ACCEPT_MANIFESTS });
    const header = res.headers['docker-content-digest'];
    const ct = res.headers['content-type'];
    return {
      status: res.status,
      digest: digestOf(res.body),
      headerDigest: typeof header === 'string' ? header : undefined,
      contentType: typeof ct === 'string' ? ct : undefined,
      body: res.body,
      json: <T>() => JSON.parse(res.body.toString('utf8')) as T,
    };
  }

  /** Asserts the manifest is served (200) with exactly the bytes of `digest`; returns the parsed body. */
  async expectManifest<T = Record<string, unknown>>(repo: string, ref: string, digest: string): Promise<T> {
    const m = await this.manifest(repo, ref);
    assert.equal(m.status, 200, `GET /v2/${repo}/manifests/${ref}: status ${m.status}: ${m.body.toString('utf8').slice(0, 500)}`);
    assert.equal(m.digest, digest, `GET /v2/${repo}/manifests/${ref}: the served bytes hash to ${m.digest}, expected ${digest}`);
    assert.equal(m.headerDigest, digest, `GET /v2/${repo}/manifests/${ref}: Docker-Content-Digest ${m.headerDigest}, expected ${digest}`);
    return m.json<T>();
  }

  async status(method: string, path: string): Promise<number> {
    return (await this.request(method, path, { accept: ACCEPT_MANIFESTS })).status;
  }

  async blob(repo: string, digest: string): Promise<Buffer> {
    const res = await this.request('GET', `/v2/${repo}/blobs/${digest}`);
    assert.equal(res.status, 200, `GET /v2/${repo}/blobs/${digest}: status ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
    return res.body;
  }

  async tags(repo: string): Promise<string[]> {
    const res = await this.request('GET', `/v2/${repo}/tags/list`);
    assert.equal(res.status, 200, `GET /v2/${repo}/tags/list: status ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
    const body = res.json() as { name?: string; tags?: string[] | null };
    assert.equal(body.name, repo, `tags/list name: ${JSON.stringify(body)}`);
    return [...(body.tags ?? [])].sort();
  }

  async referrers(repo: string, digest: string, artifactType?: string): Promise<{ status: number; filtersApplied: string | undefined; contentType: string | undefined; index: { mediaType?: string; manifests: Array<Descriptor & { artifactType?: string; annotations?: Record<string, string> }> } }> {
    const q = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
    const res = await this.request('GET', `/v2/${repo}/referrers/${digest}${q}`, { accept: MT.ociIndex });
    assert.equal(res.status, 200, `GET /v2/${repo}/referrers/${digest}${q}: status ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
    const fa = res.headers['oci-filters-applied'];
    const ct = res.headers['content-type'];
    return {
      status: res.status,
      filtersApplied: typeof fa === 'string' ? fa : undefined,
      contentType: typeof ct === 'string' ? ct : undefined,
      index: res.json() as { mediaType?: string; manifests: Array<Descriptor & { artifactType?: string }> },
    };
  }

  /**
   * Pushes `root` (an image or an index, with everything below it) from the
   * OCI layout over plain HTTP: blobs by POST + PUT (monolithic) unless
   * HEAD finds them, child manifests by digest, then `root` by `tag`.
   */
  async pushFromLayout(images: BuiltImages, repo: string, root: Descriptor, tag: string): Promise<void> {
    const pushBlob = async (d: Descriptor) => {
      if ((await this.status('HEAD', `/v2/${repo}/blobs/${d.digest}`)) === 200) return;
      const bytes = await readFile(blobPath(images.layout, d.digest));
      const post = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { 'content-length': 0 });
      assert.equal(post.status, 202, `POST upload: ${post.status} ${post.body.toString('utf8')}`);
      const location = String(post.headers.location ?? '');
      const target = new URL(location, this.url);
      target.searchParams.set('digest', d.digest);
      const put = await fetchRaw(target.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': bytes.length }, body: bytes, timeoutMs: 120_000 });
      assert.equal(put.status, 201, `PUT upload ${d.digest}: ${put.status} ${put.body.toString('utf8')}`);
    };
    const pushManifest = async (d: Descriptor, ref: string): Promise<void> => {
      const bytes = await readFile(blobPath(images.layout, d.digest));
      const doc = JSON.parse(bytes.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
      for (const child of doc.manifests ?? []) await pushManifest(child, child.digest);
      for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) await pushBlob(b);
      const res = await this.request('PUT', `/v2/${repo}/manifests/${ref}`, { 'content-type': d.mediaType }, bytes);
      assert.equal(res.status, 201, `PUT manifest ${repo}:${ref}: ${res.status} ${res.body.toString('utf8')}`);
    };
    await pushManifest(root, tag);
  }
}

/** sha256 of the gunzipped bytes (a layer's diff_id). */
export function diffIdOf(gz: Buffer): string {
  return digestOf(gunzipSync(gz));
}

/** The query parameters of a logged request URL. */
export function queryOf(url: string): URLSearchParams {
  const i = url.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : url.slice(i + 1));
}

/**
 * What the server saw for blob uploads into `repo` since `mark`: digests
 * mounted (POST ?mount=&from= answered 201, with the source repos) and
 * digests uploaded (PUT of an upload session with ?digest=).
 */
export function blobTraffic(registry: Registry, mark: LogMark, repo: string): { mounted: Map<string, string>; mountAttempts: RequestRecord[]; uploaded: Set<string> } {
  const prefix = `/v2/${repo}/blobs/uploads/`;
  const mounted = new Map<string, string>();
  const mountAttempts: RequestRecord[] = [];
  const uploaded = new Set<string>();
  for (const r of registry.requestsSince(mark)) {
    if (!r.url.startsWith(prefix)) continue;
    const q = queryOf(r.url);
    if (r.method === 'POST' && q.has('mount')) {
      mountAttempts.push(r);
      if (r.status === 201) mounted.set(q.get('mount')!, q.get('from') ?? '');
    }
    if ((r.method === 'PUT' || r.method === 'POST') && q.has('digest') && (r.status === 201 || r.status === undefined)) uploaded.add(q.get('digest')!);
  }
  return { mounted, mountAttempts, uploaded };
}

/**
 * Asserts that every digest of `shared` reached `repo` by a cross-repository
 * mount (POST ?mount=&from= answered 201) from one of `from`, and none was
 * uploaded again.
 */
export async function assertMounted(registry: Registry, mark: LogMark, repo: string, from: readonly string[], shared: readonly string[]): Promise<string> {
  await registry.sync();
  const { mounted, mountAttempts, uploaded } = blobTraffic(registry, mark, repo);
  const seen = () =>
    `mount requests seen: ${mountAttempts.map((r) => `${r.method} ${r.url} -> ${r.status}`).join('; ') || 'none'}; uploads (?digest=): ${[...uploaded].join(', ') || 'none'}`;
  assert.ok(mountAttempts.length > 0, `the server saw no cross-repository mount request (POST /v2/${repo}/blobs/uploads/?mount=...&from=...); ${seen()}`);
  for (const d of shared) {
    assert.ok(!uploaded.has(d), `shared layer ${d} was uploaded again into ${repo} instead of mounted; ${seen()}`);
    const source = mounted.get(d);
    assert.ok(source !== undefined && from.includes(source), `shared layer ${d} was not mounted (201) from ${from.join(' or ')}; ${seen()}`);
  }
  const sources = [...new Set(shared.map((d) => mounted.get(d)))].join(', ');
  return `${shared.length} shared layers mounted from ${sources} (${mountAttempts.length} mount requests, ${uploaded.size} blobs uploaded)`;
}

/** Asserts that nothing was uploaded into or mounted to `repo` since `mark` (a re-push found every blob by HEAD). */
export async function assertNothingUploaded(registry: Registry, mark: LogMark, repo: string): Promise<string> {
  await registry.sync();
  const { mountAttempts, uploaded } = blobTraffic(registry, mark, repo);
  const heads = registry.requestsSince(mark).filter((r) => r.method === 'HEAD' && r.url.startsWith(`/v2/${repo}/blobs/`));
  assert.deepEqual([...uploaded], [], `blobs uploaded again into ${repo}`);
  assert.deepEqual(
    mountAttempts.map((r) => r.url),
    [],
    `mount requests into ${repo}`,
  );
  return `${heads.length} blob HEAD requests (${heads.filter((r) => r.status === 200).length} answered 200), nothing uploaded`;
}

// ---------------------------------------------------------------------------
// The per-client suite

export interface ModeContext {
  readonly client: string;
  readonly mode: ServerMode;
  /** The running server (set by the first step). */
  readonly registry: Registry;
  readonly images: BuiltImages;
  /** A temp dir for this mode, removed afterwards. */
  readonly tmp: string;
  /** Repository prefix for this mode: interop/<client>-<mode>. */
  readonly repoPrefix: string;
  /** <repoPrefix>/<name> */
  repo(name: string): string;
  /** host:port/<repoPrefix>/<name> */
  ref(name: string): string;
  /** Values produced by one step and used by later ones. */
  set(name: string, value: string): void;
  get(name: string): string;
  /** Registers a teardown; they run last-in first-out in the mode's `after` hook, before the server stops. */
  cleanup(fn: () => Promise<void>): void;
  /** Includes this daemon's log lines in failure messages. */
  watch(daemon: Daemon): void;
}

export interface StepOptions {
  /** Other steps (by name) that must have passed; otherwise this one is skipped. */
  needs?: readonly string[];
  /** When this step fails, every later step of the mode is skipped. */
  critical?: boolean;
  timeoutMs?: number;
}

export type StepFn = (ctx: ModeContext, t: TestContext) => Promise<void>;

export interface StepApi {
  /** Defines a step (one `it`). */
  step(name: string, fn: StepFn, options?: StepOptions): void;
  /** In the restart mode, a step that restarts the server (SIGTERM, same storage and port); elsewhere nothing. */
  restartPoint(): void;
}

export interface ClientSuiteOptions {
  /** Commands that must be on PATH. */
  requires: readonly string[];
  /** Needs root (daemons, vfs storage, mount namespaces). */
  needsRoot?: boolean;
  /** Tool versions, printed as diagnostics (and in the summary). */
  versions: () => Promise<Record<string, string>>;
  /** The server modes this suite runs in (default all; INTEROP_MODES narrows them further). */
  modes?: ReadonlyArray<ServerMode['id']>;
  /** Other INTEROP_SKIP words that skip this suite too (e.g. the client's own suite name). */
  skipWith?: readonly string[];
  /** Called with the mode's temp dir before the server starts: how to start it (e.g. a configuration file). */
  server?: (tmp: string) => Promise<ServerSetup>;
}

interface Counts {
  pass: number;
  fail: number;
  skip: number;
}

const MAX_SERVER_LINES = 150;
const MAX_LINE = 1500;

function clip(line: string): string {
  return line.length <= MAX_LINE ? line : `${line.slice(0, MAX_LINE)}… (${line.length} chars)`;
}

function formatTranscript(results: readonly CommandResult[]): string {
  if (results.length === 0) return '(no client command ran in this step)';
  const shown = results.slice(-4);
  const head = results.length > shown.length ? [`(${results.length - shown.length} earlier commands of this step passed)`] : [];
  return [
    ...head,
    ...shown.map((r) => {
      const status = r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
      const parts = [`$ ${r.command}   (${status}, ${(r.ms / 1000).toFixed(1)} s)`];
      if (r.stderr.trim()) parts.push(`[stderr]\n${lastLines(r.stderr, 60).split('\n').map(clip).join('\n')}`);
      if (r.stdout.trim()) parts.push(`[stdout]\n${lastLines(r.stdout, 30).split('\n').map(clip).join('\n')}`);
      return parts.join('\n');
    }),
  ].join('\n');
}

export const START_STEP = 'start ferro-oci-server';

/**
 * Declares the suite of one client: a versions test, then for each server
 * mode a `describe` whose first step starts the server and whose other steps
 * `body` defines, then a summary test with the pass counts.
 */
export function clientSuite(client: string, options: ClientSuiteOptions, body: (api: StepApi) => void): void {
  const totals = new Map<string, Counts>();
  let versions: Record<string, string> = {};
  const skipWords = (process.env.INTEROP_SKIP ?? '').split(/[\s,]+/).filter(Boolean);
  const skip = [client, ...(options.skipWith ?? [])].find((w) => skipWords.includes(w));

  describe(client, { skip: skip !== undefined ? `INTEROP_SKIP contains ${skip}` : false }, () => {
    it(`${client}: tool versions`, async (t) => {
      versions = await options.versions();
      for (const [k, v] of Object.entries(versions)) t.diagnostic(`${k}: ${v}`);
    });

    for (const mode of selectedModes().filter((m) => !options.modes || options.modes.includes(m.id))) {
      const counts: Counts = { pass: 0, fail: 0, skip: 0 };
      totals.set(mode.label, counts);
      describe(`${client} × ferro-oci-server [${mode.label}]`, () => {
        let registry: Registry | undefined;
        let images: BuiltImages | undefined;
        let tmp: string | undefined;
        const cleanups: Array<() => Promise<void>> = [];
        const watched: Daemon[] = [];
        const results = new Map<string, 'pass' | 'fail' | 'skip'>();
        const vars = new Map<string, string>();
        let fatal: string | undefined;
        const repoPrefix = `interop/${client}-${mode.id}`;
        const ctx: ModeContext = {
          client,
          mode,
          get registry() {
            if (!registry) throw new Error('the server is not running');
            return registry;
          },
          get images() {
            if (!images) throw new Error('the test images were not built');
            return images;
          },
          get tmp() {
            if (!tmp) throw new Error('no temp dir');
            return tmp;
          },
          repoPrefix,
          repo: (name) => `${repoPrefix}/${name}`,
          ref: (name) => `${ctx.registry.host}/${repoPrefix}/${name}`,
          set: (name, value) => void vars.set(name, value),
          get: (name) => {
            const v = vars.get(name);
            if (v === undefined) throw new Error(`value "${name}" was not produced by an earlier step`);
            return v;
          },
          cleanup: (fn) => void cleanups.push(fn),
          watch: (d) => void watched.push(d),
        };

        after(async () => {
          for (const fn of cleanups.reverse()) {
            await fn().catch((err: unknown) => process.stderr.write(`[interop] ${client} [${mode.label}] cleanup failed: ${String(err)}\n`));
          }
          for (const d of watched) if (d.running) await d.stop();
          await registry?.stop();
          await removeDir(tmp);
        });

        const explain = async (err: unknown, name: string, transcript: CommandResult[], mark: LogMark | undefined, daemonMarks: number[]): Promise<Error> => {
          // A failed command's output follows in full: keep only its first line here.
          const message = err instanceof CommandError ? (err.message.split('\n')[0] ?? '') : err instanceof Error ? err.message : String(err);
          const parts = [`${client} [${mode.label}] step "${name}" failed: ${message}`, '', '── client commands of this step ──', formatTranscript(transcript)];
          await registry?.sync(3_000).catch(() => undefined);
          if (registry && mark) {
            const lines = registry.linesSince(mark);
            const shown = lines.slice(-MAX_SERVER_LINES).map(clip);
            parts.push('', `── ferro-oci-server log during this step (${registry.url}, pid ${registry.pid}, ${lines.length} lines${lines.length > shown.length ? `, last ${shown.length} shown` : ''}) ──`, ...shown);
          }
          for (const [i, d] of watched.entries()) {
            const text = await d.logSince(daemonMarks[i] ?? 0, 60).catch((e: unknown) => `(cannot read: ${String(e)})`);
            parts.push('', `── ${d.name} log during this step (pid ${d.pid}) ──`, text || '(nothing)');
          }
          const frames = err instanceof Error && err.stack ? err.stack.split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 3) : [];
          if (frames.length > 0) parts.push('', '── where ──', ...frames.map((f) => f.trim()));
          const wrapped = new Error(parts.join('\n'));
          wrapped.stack = wrapped.message;
          return wrapped;
        };

        const step: StepApi['step'] = (name, fn, stepOptions = {}) => {
          it(name, { timeout: stepOptions.timeoutMs ?? COMMAND_TIMEOUT_MS * 2 }, async (t) => {
            if (fatal) {
              results.set(name, 'skip');
              counts.skip++;
              t.skip(`not run: ${fatal}`);
              return;
            }
            const unmet = (stepOptions.needs ?? []).filter((n) => results.get(n) !== 'pass');
            if (unmet.length > 0) {
              results.set(name, 'skip');
              counts.skip++;
              t.skip(`not run: needs ${unmet.map((n) => `"${n}"`).join(', ')}`);
              return;
            }
            const transcript: CommandResult[] = [];
            currentTranscript = transcript;
            const mark = registry?.mark();
            const daemonMarks = await Promise.all(watched.map((d) => d.logSize()));
            try {
              await fn(ctx, t);
              results.set(name, 'pass');
              counts.pass++;
            } catch (err) {
              results.set(name, 'fail');
              counts.fail++;
              if (stepOptions.critical) fatal = `the critical step "${name}" failed`;
              throw await explain(err, name, transcript, mark, daemonMarks);
            } finally {
              currentTranscript = undefined;
            }
          });
        };

        step(
          START_STEP,
          async (_ctx, t) => {
            const missing = options.requires.filter((c) => !which(c));
            if (missing.length > 0) throw new Error(`missing on PATH: ${missing.join(', ')} (docs/interop.md lists the Debian packages; INTEROP_SKIP=${client} skips this client)`);
            if (options.needsRoot && process.getuid?.() !== 0) throw new Error(`the suite drives ${client} as root (daemons, vfs storage, mount namespaces): run it as root or set INTEROP_SKIP=${client}`);
            images = await ensureImages();
            tmp = await tempDir(`ferro-oci-interop-${client}-${mode.id}.`);
            const setup = options.server ? await options.server(tmp) : {};
            registry = await Registry.start(mode, mode.storage ? join(tmp, 'registry-storage') : undefined, setup);
            assert.equal(await registry.status('GET', '/v2/'), 200, 'GET /v2/');
            t.diagnostic(`server pid ${registry.pid} at ${registry.url} (${mode.label})`);
          },
          { critical: true },
        );

        body({
          step,
          restartPoint() {
            if (!mode.restart) return;
            step(
              'restart ferro-oci-server (SIGTERM, same storage dir and port)',
              async ({ registry: r }, t) => {
                await r.restart();
                assert.equal(await r.status('GET', '/v2/'), 200, 'GET /v2/ after the restart');
                t.diagnostic(`server restarted: pid ${r.pid} at ${r.url}`);
              },
              { critical: true },
            );
          },
        });

        step('ferro-oci-server log of this mode: no 5xx response, no error-level line', async ({ registry: r }, t) => {
          await r.sync();
          const all = r.linesSince({ instance: 0, line: 0 });
          const requests = r.requestsSince({ instance: 0, line: 0 });
          const failed = requests.filter((q) => (q.status ?? 0) >= 500);
          const errors = all.filter((line) => {
            try {
              return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50;
            } catch {
              return false;
            }
          });
          t.diagnostic(`${requests.length} requests logged (${requests.filter((q) => (q.status ?? 0) >= 400 && (q.status ?? 0) < 500).length} answered 4xx)`);
          assert.deepEqual(
            failed.map((q) => `${q.method} ${q.url} -> ${q.status} (reqId ${q.reqId})`),
            [],
            'responses with status >= 500',
          );
          assert.deepEqual(errors.map(clip), [], 'error-level log lines');
        });
      });
    }

    it(`${client}: summary`, (t) => {
      let pass = 0;
      let total = 0;
      let skipped = 0;
      for (const [label, c] of totals) {
        const n = c.pass + c.fail + c.skip;
        t.diagnostic(`${client} [${label}]: ${c.pass}/${n} steps passed${c.fail ? `, ${c.fail} failed` : ''}${c.skip ? `, ${c.skip} skipped` : ''}`);
        pass += c.pass;
        total += n;
        skipped += c.skip;
      }
      const v = Object.entries(versions).map(([k, val]) => `${k} ${val}`).join(', ') || 'unknown';
      t.diagnostic(`${client} total: ${pass}/${total} steps passed${skipped ? ` (${skipped} skipped)` : ''}; ${v}`);
    });
  });
}

/** Reads a file of `dir` written by a client (e.g. --digestfile), trimmed. */
export async function readTrimmed(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

/** First line of a command's output, or the error. */
export async function versionOf(cmd: string, args: readonly string[]): Promise<string> {
  const r = await run(cmd, args, { allowFailure: true, timeoutMs: 30_000 }).catch((e: unknown) => ({ stdout: '', stderr: String(e), code: 1 }));
  const text = (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
  return r.code === 0 ? text : `unavailable (${text})`;
}
