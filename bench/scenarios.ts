/**
 * The benchmark scenarios. Each runs against one target (a server process)
 * in one round; `prepare` is untimed (content generation, prerequisites),
 * `run` brackets its measured part with the window hooks, where the runner
 * samples the server's CPU time. Content is random everywhere, and distinct
 * per round and target, so that no server can deduplicate.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import type http from 'node:http';
import {
  agentFor,
  getHashed,
  HttpError,
  locationPath,
  nextLink,
  runCount,
  runFor,
  send,
  describeFailure,
  isOk,
  withQuery,
  type Endpoint,
  type LoopResult,
  type Tally,
  type WindowHooks,
} from './lib/client.js';
import { MiB, fmtSize } from './lib/stats.js';
import type { TargetId } from './lib/servers.js';
import { digestOf } from '../src/oci/digest.js';
import { mirrorColdPull } from './mirror-scenario.js';

export interface Options {
  rounds: number;
  durationMs: number;
  warmupMs: number;
  blobSize: number;
  chunkSize: number;
  smallCount: number;
  smallSize: number;
  smallConcurrency: number;
  headConcurrency: number;
  manifestCount: number;
  manifestConcurrency: number;
  page: number;
  listConcurrency: number;
  catalogRepos: number;
  images: number;
  imageLayers: number[];
  pullConcurrency: number;
  /** Where scenarios that start their own servers put their storage (default the OS temp dir). */
  tmp?: string;
}

export interface Target {
  readonly id: TargetId;
  readonly ep: Endpoint;
  readonly pid: number;
}

export interface RunOutcome {
  /** The scenario's metric. */
  readonly value: number;
  readonly errors: number;
  readonly errorSamples: string[];
  /** Bytes moved in the measured part, when meaningful. */
  readonly bytes?: number;
  /** Operations (requests, blobs, walks…) in the measured part. */
  readonly ops?: number;
  readonly extra?: Record<string, number | string>;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** Unit of `value`. */
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly targets: readonly TargetId[];
  /** Scenarios whose state this one needs (run first in --profile / --only). */
  readonly needs?: readonly string[];
  /** Shown in the table. */
  readonly detail: string;
  prepare?(t: Target, round: number): Promise<void>;
  run(t: Target, round: number, hooks: WindowHooks): Promise<RunOutcome>;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ACCEPT_MANIFESTS = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');
const OCTET = 'application/octet-stream';

function pad(i: number, width = 4): string {
  return String(i).padStart(width, '0');
}

interface BlobRef {
  readonly repo: string;
  readonly digest: string;
  readonly size: number;
}

interface ImageRef {
  readonly tag: string;
  readonly digest: string;
  readonly config: { digest: string; size: number };
  readonly layers: { digest: string; size: number }[];
}

/** What one target holds after the scenarios that fill it. */
interface TargetState {
  mono: Map<number, BlobRef>;
  small: Map<number, { repo: string; digests: string[] }>;
  manifests: Map<number, { repo: string; tags: string[] }>;
  images: Map<number, { repo: string; images: ImageRef[] }>;
  catalogReady: boolean;
}

/** Failure of a prerequisite step: aborts the scenario for this target. */
function expectOk(reply: { status: number; body: Buffer; headers: http.IncomingHttpHeaders }, what: string): void {
  if (!isOk(reply.status)) throw new HttpError(reply.status, `${what}: ${describeFailure(reply)}`);
}

/** POST + PUT of a small blob (the only way the reference takes a blob in one PUT). */
async function pushPostPut(ep: Endpoint, agent: http.Agent, repo: string, data: Buffer, digest: string, tally?: Tally): Promise<boolean> {
  const start = await send(ep, agent, 'POST', `/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 });
  if (tally ? !tally.check(start, 'POST') : !isOk(start.status)) {
    if (!tally) expectOk(start, `POST /v2/${repo}/blobs/uploads/`);
    return false;
  }
  const put = await send(ep, agent, 'PUT', withQuery(locationPath(start, ep), 'digest', digest), { 'Content-Type': OCTET, 'Content-Length': data.length }, data);
  if (tally) return tally.check(put, 'PUT');
  expectOk(put, `PUT blob into ${repo}`);
  return true;
}

/** POST ?digest= with the body: one request (OCI 1.1 "single POST"); ours only. */
async function pushSinglePost(ep: Endpoint, agent: http.Agent, repo: string, data: Buffer, digest: string, tally: Tally): Promise<boolean> {
  const reply = await send(ep, agent, 'POST', withQuery(`/v2/${repo}/blobs/uploads/`, 'digest', digest), { 'Content-Type': OCTET, 'Content-Length': data.length }, data);
  if (reply.status !== 201) {
    tally.fail(`single POST: ${describeFailure(reply)}`);
    return false;
  }
  tally.ok++;
  return true;
}

function loopOutcome(r: LoopResult, value: number, extra: Record<string, number | string> = {}): RunOutcome {
  return { value, errors: r.errors, errorSamples: r.errorSamples, ops: r.ops, extra: { p50Ms: r.p50Ms, p99Ms: r.p99Ms, ...extra } };
}

function rate(r: LoopResult): number {
  return r.ops / (r.elapsedMs / 1000);
}

/** Walks a paged listing from `first`, following Link rel="next"; returns entries and pages, or throws. */
async function walk(ep: Endpoint, agent: http.Agent, first: string, field: 'tags' | 'repositories'): Promise<{ entries: number; pages: number; names: string[] }> {
  let path: string | undefined = first;
  let entries = 0;
  let pages = 0;
  const names: string[] = [];
  while (path !== undefined) {
    const reply = await send(ep, agent, 'GET', path, {}, undefined, true);
    expectOk(reply, `GET ${path}`);
    const list = (JSON.parse(reply.body.toString('utf8')) as Record<string, unknown>)[field];
    if (Array.isArray(list)) {
      entries += list.length;
      if (names.length < 100_000) for (const n of list) names.push(String(n));
    }
    pages++;
    path = nextLink(reply, ep);
    if (pages > 100_000) throw new Error('runaway listing');
  }
  return { entries, pages, names };
}

export class Scenarios {
  readonly state = new Map<TargetId, TargetState>();
  /** Reused for the large pushes: the content is refilled with random bytes before each push. */
  #big: Buffer | undefined;
  #bigDigest = '';

  constructor(readonly o: Options) {}

  #st(t: Target): TargetState {
    let s = this.state.get(t.id);
    if (!s) {
      s = { mono: new Map(), small: new Map(), manifests: new Map(), images: new Map(), catalogReady: false };
      this.state.set(t.id, s);
    }
    return s;
  }

  #fillBig(): void {
    this.#big ??= Buffer.allocUnsafeSlow(this.o.blobSize);
    for (let off = 0; off < this.#big.length; off += 64 * MiB) randomFillSync(this.#big, off, Math.min(64 * MiB, this.#big.length - off));
    this.#bigDigest = digestOf(this.#big);
  }

  /** Pushes `count` small random blobs into `repo` (prerequisites). */
  async #pushRandomBlobs(t: Target, repo: string, sizes: number[]): Promise<{ digest: string; size: number }[]> {
    const agent = agentFor(8);
    try {
      const out: { digest: string; size: number }[] = [];
      await runCount(sizes.length, 8, async (i) => {
        const data = randomBytes(sizes[i]!);
        const digest = digestOf(data);
        out[i] = { digest, size: data.length };
        return pushPostPut(t.ep, agent, repo, data, digest);
      });
      for (let i = 0; i < sizes.length; i++) if (out[i] === undefined) throw new Error(`pushing prerequisite blobs into ${repo} failed`);
      return out;
    } finally {
      agent.destroy();
    }
  }

  async #pushConfig(t: Target, agent: http.Agent, repo: string): Promise<{ digest: string; size: number }> {
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
        config: { Labels: { 'org.example.bench.nonce': randomBytes(16).toString('hex') } },
      }),
    );
    const digest = digestOf(config);
    await pushPostPut(t.ep, agent, repo, config, digest);
    return { digest, size: config.length };
  }

  all(): Scenario[] {
    const o = this.o;
    const blob = fmtSize(o.blobSize);
    return [
      {
        id: 'mono-push',
        title: `Monolithic push, ${blob}`,
        detail: 'POST + one PUT ?digest= streaming the whole body; digest computed beforehand',
        unit: 'MiB/s',
        better: 'higher',
        targets: ['ours', 'ref', 'bare', 'replicas', 'events'],
        prepare: async () => this.#fillBig(),
        run: async (t, round, hooks) => {
          const agent = agentFor(1);
          const repo = 'bench/mono';
          try {
            const data = this.#big!;
            const digest = this.#bigDigest;
            hooks.onStart?.();
            const t0 = performance.now();
            const start = await send(t.ep, agent, 'POST', `/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 });
            expectOk(start, 'POST');
            const put = await send(t.ep, agent, 'PUT', withQuery(locationPath(start, t.ep), 'digest', digest), { 'Content-Type': OCTET, 'Content-Length': data.length }, data);
            const seconds = (performance.now() - t0) / 1000;
            hooks.onEnd?.();
            expectOk(put, 'PUT');
            this.#st(t).mono.set(round, { repo, digest, size: data.length });
            return { value: data.length / MiB / seconds, errors: 0, errorSamples: [], bytes: data.length, ops: 1, extra: { seconds } };
          } finally {
            agent.destroy();
          }
        },
      },
      {
        id: 'chunked-push',
        title: `Chunked push, ${blob} in ${fmtSize(o.chunkSize)} PATCHes`,
        detail: 'POST, PATCH with Content-Range per chunk, PUT ?digest= without body',
        unit: 'MiB/s',
        better: 'higher',
        targets: ['ours', 'ref', 'replicas'],
        prepare: async () => this.#fillBig(),
        run: async (t, _round, hooks) => {
          const agent = agentFor(1);
          const repo = 'bench/chunked';
          try {
            const data = this.#big!;
            hooks.onStart?.();
            const t0 = performance.now();
            const start = await send(t.ep, agent, 'POST', `/v2/${repo}/blobs/uploads/`, { 'Content-Length': 0 });
            expectOk(start, 'POST');
            let location = locationPath(start, t.ep);
            let patches = 0;
            for (let off = 0; off < data.length; off += o.chunkSize) {
              const end = Math.min(off + o.chunkSize, data.length);
              const reply = await send(
                t.ep,
                agent,
                'PATCH',
                location,
                { 'Content-Type': OCTET, 'Content-Length': end - off, 'Content-Range': `${off}-${end - 1}` },
                data.subarray(off, end),
              );
              expectOk(reply, `PATCH ${off}-${end - 1}`);
              location = locationPath(reply, t.ep);
              patches++;
            }
            const put = await send(t.ep, agent, 'PUT', withQuery(location, 'digest', this.#bigDigest), { 'Content-Length': 0 });
            const seconds = (performance.now() - t0) / 1000;
            hooks.onEnd?.();
            expectOk(put, 'PUT');
            return { value: data.length / MiB / seconds, errors: 0, errorSamples: [], bytes: data.length, ops: patches + 2, extra: { seconds, patches } };
          } finally {
            agent.destroy();
          }
        },
      },
      {
        id: 'pull',
        title: `Blob pull, ${blob}`,
        detail: 'GET of the monolithic push of the same round; client verifies sha256 while streaming',
        unit: 'MiB/s',
        better: 'higher',
        targets: ['ours', 'ref', 'replicas'],
        needs: ['mono-push'],
        run: async (t, round, hooks) => {
          const ref = this.#st(t).mono.get(round);
          if (!ref) throw new Error('no blob from mono-push in this round');
          const agent = agentFor(1);
          try {
            hooks.onStart?.();
            const t0 = performance.now();
            const got = await getHashed(t.ep, agent, `/v2/${ref.repo}/blobs/${ref.digest}`);
            const seconds = (performance.now() - t0) / 1000;
            hooks.onEnd?.();
            const errors = got.status !== 200 || got.digest !== ref.digest || got.bytes !== ref.size ? 1 : 0;
            const errorSamples = errors ? [`status ${got.status}, ${got.bytes} bytes, ${got.digest}`] : [];
            return { value: got.bytes / MiB / seconds, errors, errorSamples, bytes: got.bytes, ops: 1, extra: { seconds } };
          } finally {
            agent.destroy();
          }
        },
      },
      mirrorColdPull(o),
      this.#smallPush('small-push', 'post-put'),
      this.#smallPush('small-push-single', 'single'),
      {
        id: 'blob-head',
        title: `Blob HEAD, c${o.headConcurrency}`,
        detail: `HEAD over the ${o.smallCount} small blobs of the round, ${o.durationMs / 1000} s`,
        unit: 'req/s',
        better: 'higher',
        targets: ['ours', 'ref', 'replicas'],
        needs: ['small-push'],
        run: async (t, round, hooks) => {
          const s = this.#st(t).small.get(round);
          if (!s) throw new Error('no small blobs in this round');
          const agent = agentFor(o.headConcurrency);
          try {
            const paths = s.digests.map((d) => `/v2/${s.repo}/blobs/${d}`);
            const r = await runFor(o.durationMs, o.warmupMs, o.headConcurrency, async (i, tally) => tally.check(await send(t.ep, agent, 'HEAD', paths[i % paths.length]!)), hooks);
            return loopOutcome(r, rate(r));
          } finally {
            agent.destroy();
          }
        },
      },
      {
        id: 'manifest-put',
        title: `Manifest PUT ×${o.manifestCount}, c${o.manifestConcurrency}`,
        detail: 'distinct OCI image manifests (same config + layer, distinct annotations), each by a new tag',
        unit: 'manifests/s',
        better: 'higher',
        targets: ['ours', 'ref', 'replicas', 'events'],
        run: async (t, round, hooks) => {
          const repo = `bench/manifests-r${round}`;
          const agent = agentFor(o.manifestConcurrency);
          try {
            const config = await this.#pushConfig(t, agent, repo);
            const [layer] = await this.#pushRandomBlobs(t, repo, [4096]);
            const nonce = randomBytes(8).toString('hex');
            const tags: string[] = [];
            const bodies: Buffer[] = [];
            for (let i = 0; i < o.manifestCount; i++) {
              tags.push(`t${pad(i)}`);
              bodies.push(
                Buffer.from(
                  JSON.stringify({
                    schemaVersion: 2,
                    mediaType: OCI_MANIFEST,
                    config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
                    layers: [{ mediaType: OCI_LAYER, digest: layer!.digest, size: layer!.size }],
                    annotations: { 'org.example.bench.index': String(i), 'org.example.bench.nonce': nonce },
                  }),
                ),
              );
            }
            const r = await runCount(
              o.manifestCount,
              o.manifestConcurrency,
              async (i, tally) =>
                tally.check(await send(t.ep, agent, 'PUT', `/v2/${repo}/manifests/${tags[i]}`, { 'Content-Type': OCI_MANIFEST, 'Content-Length': bodies[i]!.length }, bodies[i]), 'PUT manifest'),
              hooks,
            );
            this.#st(t).manifests.set(round, { repo, tags });
            return loopOutcome(r, r.ops / (r.elapsedMs / 1000));
          } finally {
            agent.destroy();
          }
        },
      },
      this.#manifestRead('manifest-get', 'GET'),
      this.#manifestRead('manifest-head', 'HEAD'),
      {
        id: 'tags-list',
        title: `tags/list, ${o.manifestCount} tags whole, c${o.listConcurrency}`,
        detail: `GET /v2/<name>/tags/list without n, ${o.durationMs / 1000} s`,
        unit: 'req/s',
        better: 'higher',
        targets: ['ours', 'ref', 'replicas'],
        needs: ['manifest-put'],
        run: async (t, round, hooks) => {
          const m = this.#st(t).manifests.get(round);
          if (!m) throw new Error('no manifests in this round');
          const agent = agentFor(o.listConcurrency);
          try {
            const path = `/v2/${m.repo}/tags/list`;
            const check = await send(t.ep, agent, 'GET', path, {}, undefined, true);
            expectOk(check, `GET ${path}`);
            const count = ((JSON.parse(check.body.toString('utf8')) as { tags?: unknown[] }).tags ?? []).length;
            const r = await runFor(o.durationMs, o.warmupMs, o.listConcurrency, async (_i, tally) => tally.check(await send(t.ep, agent, 'GET', path)), hooks);
            const out = loopOutcome(r, rate(r), { tagsInOneAnswer: count, answerBytes: check.body.length });
            if (count !== m.tags.length) out.errorSamples.push(`the whole list had ${count} tags, not ${m.tags.length}`);
            return count === m.tags.length ? out : { ...out, errors: out.errors + 1 };
          } finally {
            agent.destroy();
          }
        },
      },
      {
        id: 'tags-walk',
        title: `tags/list, ${o.manifestCount} tags paged by ${o.page}`,
        detail: `sequential walks of ?n=${o.page} following Link rel="next", ${o.durationMs / 1000} s`,
        unit: 'ms/walk',
        better: 'lower',
        targets: ['ours', 'ref', 'replicas'],
        needs: ['manifest-put'],
        run: async (t, round, hooks) => {
          const m = this.#st(t).manifests.get(round);
          if (!m) throw new Error('no manifests in this round');
          return this.#walkLoop(t, `/v2/${m.repo}/tags/list?n=${o.page}`, 'tags', m.tags.length, hooks);
        },
      },
      {
        id: 'image-pull',
        title: `Image pull workflow, c${o.pullConcurrency}`,
        detail: `HEAD manifest by tag, GET manifest by digest, GET config, GET ${o.imageLayers.length} layers (${o.imageLayers.map(fmtSize).join(' + ')}) verifying digests; ${o.images} images, ${o.durationMs / 1000} s`,
        unit: 'pulls/s',
        better: 'higher',
        targets: ['ours', 'ref', 'replicas'],
        prepare: async (t, round) => {
          const repo = `bench/images-r${round}`;
          const agent = agentFor(8);
          try {
            const images: ImageRef[] = [];
            for (let i = 0; i < o.images; i++) {
              const config = await this.#pushConfig(t, agent, repo);
              const layers = await this.#pushRandomBlobs(t, repo, o.imageLayers);
              const body = Buffer.from(
                JSON.stringify({
                  schemaVersion: 2,
                  mediaType: OCI_MANIFEST,
                  config: { mediaType: OCI_CONFIG, ...config },
                  layers: layers.map((l) => ({ mediaType: OCI_LAYER, ...l })),
                }),
              );
              const tag = `v${i}`;
              const put = await send(t.ep, agent, 'PUT', `/v2/${repo}/manifests/${tag}`, { 'Content-Type': OCI_MANIFEST, 'Content-Length': body.length }, body);
              expectOk(put, `PUT manifest ${repo}:${tag}`);
              images.push({ tag, digest: digestOf(body), config, layers });
            }
            this.#st(t).images.set(round, { repo, images });
          } finally {
            agent.destroy();
          }
        },
        run: async (t, round, hooks) => {
          const set = this.#st(t).images.get(round);
          if (!set) throw new Error('no images in this round');
          const agent = agentFor(o.pullConcurrency);
          let bytes = 0;
          try {
            const r = await runFor(
              o.durationMs,
              o.warmupMs,
              o.pullConcurrency,
              async (i, tally) => {
                const img = set.images[i % set.images.length]!;
                const head = await send(t.ep, agent, 'HEAD', `/v2/${set.repo}/manifests/${img.tag}`, { Accept: ACCEPT_MANIFESTS });
                if (!tally.check(head, 'HEAD manifest')) return false;
                const digest = String(head.headers['docker-content-digest'] ?? '');
                if (digest !== img.digest) {
                  tally.fail(`HEAD manifest: Docker-Content-Digest ${digest}`);
                  return false;
                }
                const man = await send(t.ep, agent, 'GET', `/v2/${set.repo}/manifests/${digest}`, { Accept: ACCEPT_MANIFESTS }, undefined, true);
                if (!tally.check(man, 'GET manifest')) return false;
                const parsed = JSON.parse(man.body.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
                for (const d of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) {
                  const got = await getHashed(t.ep, agent, `/v2/${set.repo}/blobs/${d}`);
                  if (got.status !== 200 || got.digest !== d) {
                    tally.fail(`GET blob ${d}: status ${got.status}, digest ${got.digest}`);
                    return false;
                  }
                  bytes += got.bytes;
                }
                bytes += man.body.length;
                tally.ok++;
                return true;
              },
              hooks,
            );
            const perPull = o.imageLayers.reduce((a, b) => a + b, 0);
            return loopOutcome(r, rate(r), { MiBps: (rate(r) * perPull) / MiB });
          } finally {
            agent.destroy();
          }
        },
      },
      {
        id: 'catalog-walk',
        title: `Catalog walk, ${o.catalogRepos} repositories paged by ${o.page}`,
        detail: `sequential walks of /v2/_catalog?n=${o.page} following Link rel="next", ${o.durationMs / 1000} s`,
        unit: 'ms/walk',
        better: 'lower',
        targets: ['ours', 'ref', 'replicas'],
        prepare: async (t) => this.#fillCatalog(t),
        run: async (t, _round, hooks) => this.#walkLoop(t, `/v2/_catalog?n=${o.page}`, 'repositories', o.catalogRepos, hooks),
      },
    ];
  }

  #smallPush(id: string, mode: 'post-put' | 'single'): Scenario {
    const o = this.o;
    const single = mode === 'single';
    return {
      id,
      title: single ? `${fmtSize(o.smallSize)} blobs ×${o.smallCount}, c${o.smallConcurrency}, ours single POST` : `${fmtSize(o.smallSize)} blobs ×${o.smallCount}, c${o.smallConcurrency}, POST+PUT`,
      detail: single
        ? 'ours: one POST ?digest= with the body; reference: POST + PUT (2.8.2 answers 202 to a single POST and drops the body)'
        : 'POST + PUT ?digest= for both servers (the reference has no single-POST upload)',
      unit: 'blobs/s',
      better: 'higher',
      targets: ['ours', 'ref', 'replicas', 'events'],
      run: async (t, round, hooks) => {
        const repo = single ? `bench/small1-r${round}` : `bench/small-r${round}`;
        const all = randomBytes(o.smallCount * o.smallSize);
        const blobs = Array.from({ length: o.smallCount }, (_, i) => all.subarray(i * o.smallSize, (i + 1) * o.smallSize));
        const digests = blobs.map((b) => digestOf(b));
        const agent = agentFor(o.smallConcurrency);
        try {
          const r = await runCount(
            o.smallCount,
            o.smallConcurrency,
            (i, tally) => (single && t.id !== 'ref' ? pushSinglePost : pushPostPut)(t.ep, agent, repo, blobs[i]!, digests[i]!, tally),
            hooks,
          );
          if (!single) this.#st(t).small.set(round, { repo, digests });
          return loopOutcome(r, r.ops / (r.elapsedMs / 1000), { requestsPerBlob: single && t.id !== 'ref' ? 1 : 2 });
        } finally {
          agent.destroy();
        }
      },
    };
  }

  #manifestRead(id: string, method: 'GET' | 'HEAD'): Scenario {
    const o = this.o;
    return {
      id,
      title: `Manifest ${method} by tag, c${o.headConcurrency}`,
      detail: `${method} /v2/<name>/manifests/<tag> over the ${o.manifestCount} tags of the round, Accept: OCI + Docker types, ${o.durationMs / 1000} s`,
      unit: 'req/s',
      better: 'higher',
      targets: ['ours', 'ref', 'replicas'],
      needs: ['manifest-put'],
      run: async (t, round, hooks) => {
        const m = this.#st(t).manifests.get(round);
        if (!m) throw new Error('no manifests in this round');
        const agent = agentFor(o.headConcurrency);
        try {
          const paths = m.tags.map((tag) => `/v2/${m.repo}/manifests/${tag}`);
          const headers = { Accept: ACCEPT_MANIFESTS };
          const r = await runFor(o.durationMs, o.warmupMs, o.headConcurrency, async (i, tally) => tally.check(await send(t.ep, agent, method, paths[i % paths.length]!, headers)), hooks);
          return loopOutcome(r, rate(r));
        } finally {
          agent.destroy();
        }
      },
    };
  }

  async #walkLoop(t: Target, first: string, field: 'tags' | 'repositories', expected: number, hooks: WindowHooks): Promise<RunOutcome> {
    const agent = agentFor(1);
    try {
      let pages = 0;
      const r = await runFor(
        this.o.durationMs,
        this.o.warmupMs,
        1,
        async (_i, tally) => {
          const w = await walk(t.ep, agent, first, field);
          pages = w.pages;
          if (w.entries !== expected) {
            tally.fail(`walk saw ${w.entries} entries, not ${expected}`);
            return false;
          }
          tally.ok++;
          return true;
        },
        hooks,
      );
      const msPerWalk = r.ops > 0 ? r.elapsedMs / r.ops : Number.NaN;
      return loopOutcome(r, msPerWalk, { pagesPerWalk: pages, walksPerSecond: rate(r) });
    } finally {
      agent.destroy();
    }
  }

  /** Tops the registry up to exactly `catalogRepos` repositories (one small blob each). */
  async #fillCatalog(t: Target): Promise<void> {
    const st = this.#st(t);
    if (st.catalogReady) return;
    const agent = agentFor(16);
    try {
      const before = await walk(t.ep, agent, `/v2/_catalog?n=${this.o.page}`, 'repositories');
      const missing = this.o.catalogRepos - before.entries;
      if (missing < 0) throw new Error(`the registry already holds ${before.entries} repositories, more than --catalog-repos ${this.o.catalogRepos}`);
      const r = await runCount(missing, 16, async (i, tally) => {
        const data = randomBytes(256);
        return pushPostPut(t.ep, agent, `bench/catalog/r${pad(i, 6)}`, data, digestOf(data), tally);
      });
      if (r.errors) throw new Error(`filling the catalog failed: ${r.errorSamples.join('; ')}`);
      const after = await walk(t.ep, agent, `/v2/_catalog?n=${this.o.page}`, 'repositories');
      if (after.entries !== this.o.catalogRepos) throw new Error(`catalog holds ${after.entries} repositories after filling, not ${this.o.catalogRepos}`);
      st.catalogReady = true;
    } finally {
      agent.destroy();
    }
  }
}
