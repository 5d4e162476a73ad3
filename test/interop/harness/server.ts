/**
 * ferro-oci-server under test: the server modes, and the Registry wrapper
 * around the binary (dist/src/server/main.js) that keeps the log of every
 * instance (restarts), reads the HTTP request log and reads what the server
 * serves over plain HTTP.
 *
 * Modes: in memory; filesystem + SQLite; filesystem + SQLite with a restart
 * of the server (SIGTERM, same storage dir and port) between the push and
 * the pull phase. INTEROP_MODES (comma separated ids) picks a subset.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fetchRaw, startServer, type HttpResponse, type RunningServer } from '../../../support/server-process.js';
import { ACCEPT_MANIFESTS, blobPath, digestOf, MT, type BuiltImages, type Descriptor } from '../images.js';

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

export function selectedModes(): readonly ServerMode[] {
  const wanted = process.env.INTEROP_MODES?.split(',').map((s) => s.trim()).filter(Boolean);
  return wanted && wanted.length > 0 ? SERVER_MODES.filter((m) => wanted.includes(m.id)) : SERVER_MODES;
}


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
   * request with a unique X-Request-Id and waits for its access line (the log lines of a client's requests may arrive after the client
   * exited).
   */
  async sync(timeoutMs = 10_000): Promise<void> {
    const id = `interop-sync-${process.pid}-${++this.syncs}`;
    const server = this.current;
    const seen = server.waitForLog((l) => l.reqId === id && l.msg === 'request', timeoutMs);
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

  /** The HTTP requests logged since `mark` (their access lines, in the order they ended; aborted ones have no status). */
  requestsSince(mark: LogMark): RequestRecord[] {
    const records: RequestRecord[] = [];
    for (const line of this.linesSince(mark)) {
      if (!line.startsWith('{')) continue;
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (j.msg !== 'request' || typeof j.reqId !== 'string' || typeof j.method !== 'string' || typeof j.path !== 'string') continue;
      records.push({ reqId: j.reqId, method: j.method, url: j.path, status: typeof j.status === 'number' ? j.status : undefined });
    }
    return records;
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

