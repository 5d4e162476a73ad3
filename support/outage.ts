/**
 * A push/pull workload against a running registry for the outage and reload
 * tests (test/durability/outage*.test.ts, test/server/reload.test.ts): every
 * answer is recorded with the phase it started in; acknowledged blobs and
 * manifests are kept to read back.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { digestOf } from '../src/oci/digest.js';
import { fetchRaw, type HttpResponse } from './http.js';
import { imageManifest } from './oci-client.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const WORKERS = 3;
/**
 * No request may take longer than this, outage or not: the server's longest
 * store timeout (a PostgreSQL statement: 10 s) and some slack for a loaded machine.
 */
export const REQUEST_BOUND_MS = 20_000;

export interface Answer {
  readonly phase: string;
  readonly what: string;
  readonly status: number | string;
  readonly ms: number;
  readonly retryAfter?: string;
  readonly message?: string;
}

export interface Acknowledged {
  readonly blobs: Map<string, { repo: string; bytes: Buffer }>;
  readonly manifests: Array<{ repo: string; tag: string; digest: string; bytes: Buffer }>;
}

export class Workload {
  readonly answers: Answer[] = [];
  readonly acked: Acknowledged = { blobs: new Map(), manifests: [] };
  phase = 'before';
  #stop = false;
  #running: Promise<void>[] = [];

  /** `headers` go with every request (e.g. authorization); workers push to `<repositoryPrefix>/w<n>` (default `outage`). */
  constructor(
    readonly url: string,
    private readonly options: { readonly headers?: Record<string, string>; readonly repositoryPrefix?: string } = {},
  ) {}

  /** One request; any socket error or timeout is recorded as the status. */
  async request(what: string, path: string, options: Parameters<typeof fetchRaw>[1] = {}): Promise<HttpResponse | undefined> {
    const phase = this.phase;
    const t0 = Date.now();
    try {
      const res = await fetchRaw(this.url + path, { ...options, headers: { ...this.options.headers, ...options.headers }, timeoutMs: REQUEST_BOUND_MS });
      const answer: Answer = { phase, what, status: res.status, ms: Date.now() - t0 };
      if (res.status >= 400) {
        const message = (() => {
          try {
            return (res.json() as { errors: Array<{ message: string }> }).errors[0]?.message;
          } catch {
            return res.body.toString('utf8').slice(0, 200);
          }
        })();
        Object.assign(answer, { message, ...(res.headers['retry-after'] !== undefined ? { retryAfter: String(res.headers['retry-after']) } : {}) });
      }
      this.answers.push(answer);
      return res;
    } catch (err) {
      this.answers.push({ phase, what, status: `error: ${(err as Error).message}`, ms: Date.now() - t0 });
      return undefined;
    }
  }

  /** Pushes a blob in one POST; records it when acknowledged (201). */
  async pushBlob(repo: string, bytes: Buffer): Promise<string | undefined> {
    return this.#sendBlob('push blob', 'POST', `/v2/${repo}/blobs/uploads/`, repo, bytes);
  }

  /** Pushes a blob with POST then PUT (an upload session). */
  async pushBlobInSession(repo: string, bytes: Buffer): Promise<string | undefined> {
    const start = await this.request('start upload', `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const location = start?.status === 202 ? start.headers.location : undefined;
    return location === undefined ? undefined : this.#sendBlob('finish upload', 'PUT', location, repo, bytes);
  }

  /** Sends `bytes` with their digest to `url`; records the blob when acknowledged (201). */
  async #sendBlob(what: string, method: string, url: string, repo: string, bytes: Buffer): Promise<string | undefined> {
    const digest = digestOf(bytes);
    const headers = { 'content-type': 'application/octet-stream', 'content-length': bytes.length };
    const res = await this.request(what, `${url}${url.includes('?') ? '&' : '?'}digest=${digest}`, { method, headers, body: bytes });
    if (res?.status !== 201) return undefined;
    this.acked.blobs.set(`${repo}@${digest}`, { repo, bytes });
    return digest;
  }

  /** A small image: config + one layer + manifest under `tag`; true when the manifest PUT was acknowledged. */
  async pushImage(repo: string, tag: string): Promise<boolean> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rand: randomBytes(8).toString('hex') }));
    const layer = randomBytes(24 * 1024);
    const configDigest = await this.pushBlob(repo, config);
    if (configDigest === undefined) return false;
    const layerDigest = await this.pushBlobInSession(repo, layer);
    if (layerDigest === undefined) return false;
    const bytes = imageManifest({ digest: configDigest, size: config.length }, [{ digest: layerDigest, size: layer.length }]);
    const res = await this.request('put manifest', `/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': MANIFEST }, body: bytes });
    if (res?.status !== 201) return false;
    this.acked.manifests.push({ repo, tag, digest: digestOf(bytes), bytes });
    return true;
  }

  /** Pulls an acknowledged image (manifest by tag, then its layer). */
  async pullSome(): Promise<void> {
    const image = this.acked.manifests[Math.floor(Math.random() * this.acked.manifests.length)];
    if (image === undefined) return;
    const res = await this.request('get manifest', `/v2/${image.repo}/manifests/${image.tag}`, { headers: { accept: MANIFEST } });
    if (res?.status !== 200) return;
    const layer = (JSON.parse(image.bytes.toString('utf8')) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    await this.request('get blob', `/v2/${image.repo}/blobs/${layer}`);
  }

  start(): void {
    for (let w = 0; w < WORKERS; w++) {
      this.#running.push(
        (async () => {
          for (let n = 0; !this.#stop; n++) {
            await this.pushImage(`${this.options.repositoryPrefix ?? 'outage'}/w${w}`, `t${n}`);
            await this.pullSome();
            await sleep(20);
          }
        })(),
      );
    }
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await Promise.all(this.#running);
  }

  /** Status counts of a phase: {"201": n, "503": m, ...}. */
  counts(phase: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const a of this.answers) if (a.phase === phase) counts[String(a.status)] = (counts[String(a.status)] ?? 0) + 1;
    return counts;
  }
}

/** The answers of a phase that are neither a success nor a proper 503 naming `store`. */
export function badAnswers(workload: Workload, phase: string, store: RegExp): Answer[] {
  return workload.answers.filter((a) => {
    if (a.phase !== phase) return false;
    if (typeof a.status === 'number' && a.status < 400) return false;
    return !(a.status === 503 && a.retryAfter !== undefined && /^[1-9]\d*$/.test(a.retryAfter) && store.test(a.message ?? ''));
  });
}

/** Polls until a full push and pull succeed; resolves with the milliseconds it took. */
export async function untilWorking(url: string, repo: string): Promise<number> {
  const probe = new Workload(url);
  const t0 = Date.now();
  for (let n = 0; ; n++) {
    if (await probe.pushImage(repo, `probe${n}`)) {
      const image = probe.acked.manifests.at(-1)!;
      const res = await fetchRaw(`${url}/v2/${repo}/manifests/${image.digest}`, { headers: { accept: MANIFEST } });
      if (res.status === 200 && res.body.equals(image.bytes)) return Date.now() - t0;
    }
    if (Date.now() - t0 > 30_000) throw new Error(`pushes still fail 30 s after the backend returned: ${JSON.stringify(probe.answers.slice(-3))}`);
    await sleep(100);
  }
}

/** Every acknowledged blob and manifest reads back exactly; resolves with the number checked. */
export async function verifyAcknowledged(url: string, acked: Acknowledged): Promise<{ blobs: number; manifests: number; lost: string[] }> {
  const lost: string[] = [];
  for (const [key, { repo, bytes }] of acked.blobs) {
    const res = await fetchRaw(`${url}/v2/${repo}/blobs/${digestOf(bytes)}`);
    if (res.status !== 200 || !res.body.equals(bytes)) lost.push(`blob ${key}: ${res.status}`);
  }
  for (const m of acked.manifests) {
    for (const ref of [m.tag, m.digest]) {
      const res = await fetchRaw(`${url}/v2/${m.repo}/manifests/${ref}`, { headers: { accept: MANIFEST } });
      if (res.status !== 200 || !res.body.equals(m.bytes)) lost.push(`manifest ${m.repo}:${ref}: ${res.status}`);
    }
  }
  return { blobs: acked.blobs.size, manifests: acked.manifests.length, lost };
}
