/**
 * Scale checks: listing pages deep in a catalog of N repositories and in a
 * repository of N tags (N = 100,000 in a full run), and the memory of a
 * server moving a blob far larger than its heap (4 GiB).
 *
 * Seeding N entries over HTTP would take long, so the data is written
 * directly before the server starts: ours through the library's SQLite
 * metadata store (linkBlob / putManifest, as the server itself would), the
 * reference as the files of distribution's documented filesystem layout
 * (repositories/<name>/_layers, _manifests/tags/<tag>/current/link). Only
 * the timed part goes over HTTP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { agentFor, getHashed, locationPath, send, sendStream, isOk, describeFailure, type Endpoint } from './lib/client.js';
import { median, quantile, MiB } from './lib/stats.js';
import { memoryStatus, resetPeak } from './lib/servers.js';
import { digestOf } from '../src/oci/digest.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export const SCALE_TAG_REPO = 'scale/many-tags';

export function scaleRepoName(i: number): string {
  return `scale/r-${String(i).padStart(6, '0')}`;
}

export function scaleTagName(i: number): string {
  return `t-${String(i).padStart(6, '0')}`;
}

function manifestBytes(config: { digest: string; size: number }, layer: { digest: string; size: number }, i: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      annotations: { 'org.example.bench.index': String(i) },
    }),
  );
}

/**
 * Seeds our SQLite metadata in `dir` (the server's storage dir): n
 * repositories with one blob link each, and SCALE_TAG_REPO with n tags on n
 * distinct manifests. Returns seconds spent.
 */
export async function seedOurs(dir: string, n: number, progress: (msg: string) => void): Promise<number> {
  const t0 = performance.now();
  mkdirSync(dir, { recursive: true });
  // Imported now, not at startup, so that the seeding code is the build the server started next will run.
  const { openSqliteMetadataStore } = await import('../src/storage/meta/sqlite/index.js');
  const store = openSqliteMetadataStore(join(dir, 'metadata.db'));
  try {
    const blob = { digest: digestOf(randomBytes(64)), size: 64 };
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      await store.linkBlob(scaleRepoName(i), blob, now);
      if (i % 25_000 === 24_999) progress(`ours: ${i + 1} repositories`);
    }
    const config = { digest: digestOf(Buffer.from('config')), size: 6 };
    const layer = { digest: digestOf(Buffer.from('layer')), size: 5 };
    await store.linkBlob(SCALE_TAG_REPO, config, now);
    await store.linkBlob(SCALE_TAG_REPO, layer, now);
    for (let i = 0; i < n; i++) {
      const bytes = manifestBytes(config, layer, i);
      const result = await store.putManifest({
        repository: SCALE_TAG_REPO,
        digest: digestOf(bytes),
        mediaType: OCI_MANIFEST,
        bytes,
        tags: [scaleTagName(i)],
        blobs: [config, layer],
        manifests: [],
        now,
      });
      if (!result.ok) throw new Error(`seeding manifest ${i} failed: ${JSON.stringify(result.missing)}`);
      if (i % 25_000 === 24_999) progress(`ours: ${i + 1} tags`);
    }
  } finally {
    await store.close();
  }
  return (performance.now() - t0) / 1000;
}

/**
 * Seeds the reference's filesystem layout under `dir`/data: n repositories
 * (a `_layers` link each) and SCALE_TAG_REPO with n tags on n distinct
 * manifests (blob data, revision link, tag current link). Returns seconds spent.
 */
export function seedReference(dir: string, n: number, progress: (msg: string) => void): number {
  const t0 = performance.now();
  const root = join(dir, 'data', 'docker', 'registry', 'v2');
  const blob = randomBytes(64);
  const blobDigest = digestOf(blob);
  const hex = (d: string) => d.slice('sha256:'.length);
  const writeBlob = (data: Uint8Array, digest: string) => {
    const p = join(root, 'blobs', 'sha256', hex(digest).slice(0, 2), hex(digest));
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, 'data'), data);
  };
  writeBlob(blob, blobDigest);
  for (let i = 0; i < n; i++) {
    const p = join(root, 'repositories', scaleRepoName(i), '_layers', 'sha256', hex(blobDigest));
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, 'link'), blobDigest);
    if (i % 25_000 === 24_999) progress(`reference: ${i + 1} repositories`);
  }
  const repo = join(root, 'repositories', SCALE_TAG_REPO);
  const config = Buffer.from('config');
  const layer = Buffer.from('layer');
  const refs = [
    { data: config, digest: digestOf(config) },
    { data: layer, digest: digestOf(layer) },
  ];
  for (const r of refs) {
    writeBlob(r.data, r.digest);
    const p = join(repo, '_layers', 'sha256', hex(r.digest));
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, 'link'), r.digest);
  }
  for (let i = 0; i < n; i++) {
    const bytes = manifestBytes({ digest: refs[0]!.digest, size: config.length }, { digest: refs[1]!.digest, size: layer.length }, i);
    const digest = digestOf(bytes);
    writeBlob(bytes, digest);
    const rev = join(repo, '_manifests', 'revisions', 'sha256', hex(digest));
    mkdirSync(rev, { recursive: true });
    writeFileSync(join(rev, 'link'), digest);
    const tag = join(repo, '_manifests', 'tags', scaleTagName(i), 'current');
    mkdirSync(tag, { recursive: true });
    writeFileSync(join(tag, 'link'), digest);
    if (i % 25_000 === 24_999) progress(`reference: ${i + 1} tags`);
  }
  return (performance.now() - t0) / 1000;
}

export interface PageTiming {
  readonly path: string;
  readonly samples: number;
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Entries in the answers (median): 100 when paging works, n when the server ignores `n`. */
  readonly entriesPerAnswer: number;
  readonly answerBytes: number;
  readonly errors: number;
  readonly errorSamples: string[];
}

/**
 * Times sequential GETs of `paths` (cycled) after `warmup` untimed ones;
 * stops early once `budgetMs` is spent (slow servers).
 */
export async function timePages(ep: Endpoint, paths: readonly string[], field: 'tags' | 'repositories', samples: number, warmup: number, budgetMs: number): Promise<PageTiming> {
  const agent = agentFor(1);
  const times: number[] = [];
  const entries: number[] = [];
  let bytes = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const deadline = performance.now() + budgetMs;
  try {
    for (let i = 0; i < warmup + samples; i++) {
      const path = paths[i % paths.length]!;
      const t0 = performance.now();
      const reply = await send(ep, agent, 'GET', path, {}, undefined, true);
      const ms = performance.now() - t0;
      if (!isOk(reply.status)) {
        errors++;
        if (errorSamples.length < 3) errorSamples.push(`${path}: ${describeFailure(reply)}`);
      } else if (i >= warmup) {
        times.push(ms);
        bytes = reply.body.length;
        const list = (JSON.parse(reply.body.toString('utf8')) as Record<string, unknown>)[field];
        entries.push(Array.isArray(list) ? list.length : 0);
      }
      if (performance.now() > deadline && times.length >= 3) break;
    }
  } finally {
    agent.destroy();
  }
  return {
    path: paths[0]!,
    samples: times.length,
    medianMs: median(times),
    p90Ms: quantile(times, 0.9),
    minMs: times.length ? Math.min(...times) : Number.NaN,
    maxMs: times.length ? Math.max(...times) : Number.NaN,
    entriesPerAnswer: median(entries),
    answerBytes: bytes,
    errors,
    errorSamples,
  };
}

/** Paths of 100-entry pages starting near the end of n names (last within the final ~500 + page). */
export function deepPagePaths(prefix: string, n: number, page: number, name: (i: number) => string): string[] {
  const out: string[] = [];
  const span = Math.min(500, Math.max(1, n - page - 1));
  for (let k = 0; k < 50; k++) {
    const idx = n - page - 1 - ((k * 37) % span);
    out.push(`${prefix}?n=${page}&last=${encodeURIComponent(name(Math.max(0, idx)))}`);
  }
  return out;
}

export interface BigBlobResult {
  readonly size: number;
  readonly pushSeconds: number;
  readonly pullSeconds: number;
  readonly pushMiBps: number;
  readonly pullMiBps: number;
  /** VmRSS just before the push. */
  readonly baselineRss: number;
  /** VmHWM during the push and during the pull (each after a reset). */
  readonly pushPeakRss: number;
  readonly pullPeakRss: number;
  /** max(peaks) - baseline. */
  readonly growth: number;
  readonly peakResetWorked: boolean;
  readonly errors: number;
  readonly errorSamples: string[];
}

/**
 * Pushes (POST + one streamed PUT) and pulls (client verifies sha256) a
 * blob of `size` bytes made of `chunk` repeated: the client never holds
 * more than the chunk. `digest` is that content's digest.
 */
export async function moveBigBlob(ep: Endpoint, pid: number, repo: string, size: number, chunk: Buffer, digest: string): Promise<BigBlobResult> {
  const agent = agentFor(1);
  const errorSamples: string[] = [];
  try {
    const baselineRss = memoryStatus(pid).rss;
    const reset1 = resetPeak(pid);
    const t0 = performance.now();
    const start = await send(ep, agent, 'POST', `/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 });
    if (!isOk(start.status)) throw new Error(`POST: ${describeFailure(start)}`);
    let sent = 0;
    const put = await sendStream(
      ep,
      agent,
      'PUT',
      `${locationPath(start, ep)}${locationPath(start, ep).includes('?') ? '&' : '?'}digest=${digest}`,
      { 'Content-Type': 'application/octet-stream', 'Content-Length': size },
      () => {
        if (sent >= size) return undefined;
        const piece = size - sent >= chunk.length ? chunk : chunk.subarray(0, size - sent);
        sent += piece.length;
        return piece;
      },
    );
    const pushSeconds = (performance.now() - t0) / 1000;
    if (!isOk(put.status)) errorSamples.push(`PUT: ${describeFailure(put)}`);
    const pushPeakRss = memoryStatus(pid).hwm;
    const reset2 = resetPeak(pid);
    const t1 = performance.now();
    const got = await getHashed(ep, agent, `/v2/${repo}/blobs/${digest}`);
    const pullSeconds = (performance.now() - t1) / 1000;
    if (got.status !== 200 || got.digest !== digest || got.bytes !== size) errorSamples.push(`GET: status ${got.status}, ${got.bytes} bytes, ${got.digest}`);
    const pullPeakRss = memoryStatus(pid).hwm;
    return {
      size,
      pushSeconds,
      pullSeconds,
      pushMiBps: size / MiB / pushSeconds,
      pullMiBps: got.bytes / MiB / pullSeconds,
      baselineRss,
      pushPeakRss,
      pullPeakRss,
      growth: Math.max(pushPeakRss, pullPeakRss) - baselineRss,
      peakResetWorked: reset1.reset && reset2.reset,
      errors: errorSamples.length,
      errorSamples,
    };
  } finally {
    agent.destroy();
  }
}

/** The digest of `chunk` repeated up to `size` bytes, without materializing it. */
export function repeatedDigest(chunk: Buffer, size: number): string {
  const hash = createHash('sha256');
  let done = 0;
  while (done < size) {
    const piece = size - done >= chunk.length ? chunk : chunk.subarray(0, size - done);
    hash.update(piece);
    done += piece.length;
  }
  return `sha256:${hash.digest('hex')}`;
}
