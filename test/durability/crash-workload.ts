/**
 * The push workload of the crash test and its model of what the registry
 * must hold. One worker per repository pushes blobs (monolithic, POST+PUT,
 * chunked), puts manifests by tag and digest, overwrites and deletes tags,
 * deletes manifests and unreferenced ("scratch") blobs. Every write's outcome
 * is recorded: acknowledged (the registry must show it), refused (a bug), or
 * cut by the kill (either outcome is fine, and verify() learns which one).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { fetchRaw, type HttpResponse } from '../../support/server-process.js';
import { digestOf } from '../../src/oci/digest.js';

/** true: must be there; false: must not; 'unknown': a write was cut by a kill. */
type Presence = boolean | 'unknown';

interface Item {
  readonly bytes: Buffer;
  present: Presence;
  /** Changed since the last verification. */
  dirty: boolean;
}

interface Repo {
  readonly name: string;
  readonly blobs: Map<string, Item & { readonly scratch: boolean }>;
  readonly manifests: Map<string, Item>;
  /** The digests a tag may point at; null: the tag may be absent. */
  readonly tags: Map<string, Set<string | null>>;
}

/** An upload session cut by a kill: `acked` bytes were acknowledged, `inflight` more were being sent. */
interface CutSession {
  readonly repo: Repo;
  readonly location: string;
  readonly digest: string;
  readonly acked: number;
  readonly inflight: number;
}

export interface CrashFigures {
  /** Writes answered 201/202. */
  acknowledged: number;
  /** Writes cut by a kill. */
  cut: number;
  /** Sessions-creating POSTs cut by a kill (their sessions may exist, unknown to the client). */
  cutPosts: number;
  /** Checks of an acknowledged blob, manifest or tag that found exactly what was acknowledged. */
  verified: number;
  /** Acknowledged writes not found, or found with other bytes. */
  lostOrCorrupt: number;
  resumed: number;
  resumeUnknown: number;
  /** Everything that went wrong, for the assertion message. */
  violations: string[];
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SIZES = [0, 1, 700, 4096, 40_000, 150_000, 400_000];
/** Content pushed by several workers, to exercise deduplication. */
const SHARED = Array.from({ length: 6 }, (_, i) => randomBytes(1000 + i * 5000));

const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[randomInt(xs.length)]);
const randomSize = () => Math.max(0, SIZES[randomInt(SIZES.length)]! + randomInt(-300, 300));

export class CrashWorkload {
  readonly repos: Repo[];
  readonly figures: CrashFigures = { acknowledged: 0, cut: 0, cutPosts: 0, verified: 0, lostOrCorrupt: 0, resumed: 0, resumeUnknown: 0, violations: [] };
  #cutSessions: CutSession[] = [];
  #url = '';
  #killed = () => false;

  constructor(workers: number) {
    this.repos = Array.from({ length: workers }, (_, i) => ({ name: `crash/w${i}`, blobs: new Map(), manifests: new Map(), tags: new Map() }));
  }

  /** Runs one worker per repository against `url` until `killed()` turns true and every worker has stopped. */
  async run(url: string, killed: () => boolean): Promise<void> {
    this.#url = url;
    this.#killed = killed;
    await Promise.all(
      this.repos.map(async (repo) => {
        while (!killed()) if (!(await this.#step(repo))) return;
      }),
    );
  }

  #violation(message: string): false {
    if (this.figures.violations.length < 50) this.figures.violations.push(message);
    return false;
  }

  /** The response, or undefined when the connection failed because of the kill (a violation otherwise). */
  async #send(path: string, options: Parameters<typeof fetchRaw>[1] = {}): Promise<HttpResponse | undefined> {
    try {
      return await fetchRaw(this.#url + path, options);
    } catch (err) {
      if (!this.#killed()) this.#violation(`${options.method ?? 'GET'} ${path} failed with the server up: ${String(err)}`);
      return undefined;
    }
  }

  #expect(res: HttpResponse, status: number, what: string): boolean {
    return res.status === status || this.#violation(`${what}: expected ${status}, got ${res.status} ${res.body.toString().slice(0, 300)}`);
  }

  /** One random operation; false when it was cut by the kill (or failed). */
  #step(repo: Repo): Promise<boolean> {
    const r = randomInt(100);
    if (r < 25) return this.#pushBlob(repo, 'monolithic');
    if (r < 35) return this.#pushBlob(repo, 'post-put');
    if (r < 50) return this.#pushBlob(repo, 'chunked');
    if (r < 72) return this.#putManifest(repo, randomInt(4) > 0);
    if (r < 80) return this.#deleteTag(repo);
    if (r < 88) return this.#deleteManifest(repo);
    return this.#deleteScratch(repo);
  }

  #blobItem(repo: Repo, bytes: Buffer, scratch: boolean) {
    const digest = digestOf(bytes);
    let item = repo.blobs.get(digest);
    if (!item) repo.blobs.set(digest, (item = { bytes, present: false, dirty: true, scratch }));
    return { digest, item };
  }

  /** A write of `item` cut by the kill: present if it was, else maybe. */
  #cut(item: Item): false {
    if (item.present !== true) item.present = 'unknown';
    item.dirty = true;
    this.figures.cut++;
    return false;
  }

  /** A delete of `item` cut by the kill: absent if it was, else maybe. */
  #cutDelete(item: Item): false {
    if (item.present !== false) item.present = 'unknown';
    item.dirty = true;
    this.figures.cut++;
    return false;
  }

  async #pushBlob(repo: Repo, mode: 'monolithic' | 'post-put' | 'chunked'): Promise<boolean> {
    const scratch = randomInt(4) === 0;
    const bytes = !scratch && randomInt(5) === 0 ? pick(SHARED)! : randomBytes(mode === 'chunked' ? 2048 + randomInt(600_000) : randomSize());
    const { digest, item } = this.#blobItem(repo, bytes, scratch);
    const base = `/v2/${repo.name}/blobs/uploads/`;
    if (mode === 'monolithic') {
      const res = await this.#send(`${base}?digest=${digest}`, { method: 'POST', body: bytes });
      if (!res) return this.#cut(item);
      if (!this.#expect(res, 201, `monolithic push to ${repo.name}`)) return false;
    } else {
      const post = await this.#send(base, { method: 'POST' });
      if (!post) {
        this.figures.cutPosts++;
        return false;
      }
      if (!this.#expect(post, 202, `POST ${base}`)) return false;
      const location = String(post.headers.location);
      const chunks = mode === 'chunked' ? splitRandom(bytes.length, 1 + randomInt(4)) : [];
      let offset = 0;
      for (const end of chunks) {
        const res = await this.#send(location, {
          method: 'PATCH',
          headers: { 'Content-Range': `${offset}-${end - 1}`, 'Content-Type': 'application/octet-stream' },
          body: bytes.subarray(offset, end),
        });
        if (!res) {
          this.#cutSessions.push({ repo, location, digest, acked: offset, inflight: end - offset });
          return this.#cut(item);
        }
        if (!this.#expect(res, 202, `PATCH ${location}`)) return false;
        if (res.headers.range !== `0-${end - 1}`) return this.#violation(`PATCH ${location}: Range ${res.headers.range}, expected 0-${end - 1}`);
        offset = end;
      }
      const rest = bytes.subarray(offset);
      const res = await this.#send(`${location}?digest=${digest}`, { method: 'PUT', body: rest });
      if (!res) {
        this.#cutSessions.push({ repo, location, digest, acked: offset, inflight: rest.length });
        return this.#cut(item);
      }
      if (!this.#expect(res, 201, `PUT ${location}`)) return false;
    }
    item.present = true;
    item.dirty = true;
    this.figures.acknowledged++;
    return true;
  }

  async #putManifest(repo: Repo, byTag: boolean): Promise<boolean> {
    const layers = [...repo.blobs].filter(([, b]) => b.present === true && !b.scratch).slice(-20);
    const config = pick(layers);
    if (!config) return this.#pushBlob(repo, 'monolithic');
    const chosen = Array.from({ length: randomInt(4) }, () => pick(layers)!);
    const descriptor = ([digest, b]: (typeof layers)[number], mediaType: string) => ({ mediaType, digest, size: b.bytes.length });
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: descriptor(config, 'application/vnd.oci.image.config.v1+json'),
        layers: chosen.map((l) => descriptor(l, 'application/vnd.oci.image.layer.v1.tar+gzip')),
        annotations: { nonce: randomBytes(6).toString('hex') },
      }),
    );
    const digest = digestOf(bytes);
    const item: Item = { bytes, present: false, dirty: true };
    repo.manifests.set(digest, item);
    const tag = `t${randomInt(4)}`;
    const res = await this.#send(`/v2/${repo.name}/manifests/${byTag ? tag : digest}`, { method: 'PUT', headers: { 'Content-Type': MANIFEST }, body: bytes });
    if (!res) {
      if (byTag) this.#tag(repo, tag).add(digest);
      return this.#cut(item);
    }
    if (!this.#expect(res, 201, `PUT manifest in ${repo.name}`)) return false;
    item.present = true;
    if (byTag) repo.tags.set(tag, new Set([digest]));
    this.figures.acknowledged++;
    return true;
  }

  #tag(repo: Repo, tag: string): Set<string | null> {
    let set = repo.tags.get(tag);
    if (!set) repo.tags.set(tag, (set = new Set([null])));
    return set;
  }

  async #deleteTag(repo: Repo): Promise<boolean> {
    const tag = pick([...repo.tags].filter(([, s]) => !s.has(null)).map(([t]) => t));
    if (tag === undefined) return this.#putManifest(repo, true);
    const res = await this.#send(`/v2/${repo.name}/manifests/${tag}`, { method: 'DELETE' });
    if (!res) {
      this.figures.cut++;
      this.#tag(repo, tag).add(null);
      return false;
    }
    if (!this.#expect(res, 202, `DELETE tag ${tag} of ${repo.name}`)) return false;
    repo.tags.set(tag, new Set([null]));
    this.figures.acknowledged++;
    return true;
  }

  async #deleteManifest(repo: Repo): Promise<boolean> {
    const digest = pick([...repo.manifests].filter(([, m]) => m.present === true).map(([d]) => d));
    if (digest === undefined) return this.#putManifest(repo, false);
    const item = repo.manifests.get(digest)!;
    const res = await this.#send(`/v2/${repo.name}/manifests/${digest}`, { method: 'DELETE' });
    for (const set of repo.tags.values()) {
      if (!set.has(digest)) continue;
      set.add(null);
      if (res) set.delete(digest);
    }
    if (!res) return this.#cutDelete(item);
    if (!this.#expect(res, 202, `DELETE manifest ${digest} of ${repo.name}`)) return false;
    item.present = false;
    item.dirty = true;
    this.figures.acknowledged++;
    return true;
  }

  async #deleteScratch(repo: Repo): Promise<boolean> {
    const digest = pick([...repo.blobs].filter(([, b]) => b.present === true && b.scratch).map(([d]) => d));
    if (digest === undefined) return this.#pushBlob(repo, 'monolithic');
    const item = repo.blobs.get(digest)!;
    const res = await this.#send(`/v2/${repo.name}/blobs/${digest}`, { method: 'DELETE' });
    if (!res) return this.#cutDelete(item);
    if (!this.#expect(res, 202, `DELETE blob ${digest} of ${repo.name}`)) return false;
    item.present = false;
    item.dirty = true;
    this.figures.acknowledged++;
    return true;
  }

  /**
   * After a restart at `url`: resumes every session cut by the kill, then
   * checks blobs and manifests (all when `full`, else those changed since the
   * last verification and a sample) and every tag, learning the outcome of
   * the cut writes.
   */
  async verify(url: string, full: boolean): Promise<void> {
    this.#url = url;
    this.#killed = () => false;
    for (const s of this.#cutSessions.splice(0)) await this.#resume(s);
    const jobs: Array<() => Promise<void>> = [];
    for (const repo of this.repos) {
      const sample = (n: number) => (full ? 1 : Math.min(1, 40 / Math.max(n, 1)));
      for (const [digest, item] of repo.blobs) {
        if (item.dirty || Math.random() < sample(repo.blobs.size)) jobs.push(() => this.#verifyItem(`/v2/${repo.name}/blobs/${digest}`, item));
      }
      for (const [digest, item] of repo.manifests) {
        if (item.dirty || Math.random() < sample(repo.manifests.size)) jobs.push(() => this.#verifyItem(`/v2/${repo.name}/manifests/${digest}`, item));
      }
      for (const [tag, set] of repo.tags) jobs.push(() => this.#verifyTag(repo, tag, set));
    }
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) await job();
    }));
  }

  async #resume(s: CutSession): Promise<void> {
    const status = await this.#send(s.location);
    if (!status) return;
    if (status.status === 404 && status.body.toString().includes('BLOB_UPLOAD_UNKNOWN')) {
      this.figures.resumeUnknown++;
      return;
    }
    if (!this.#expect(status, 204, `GET ${s.location} after the restart`)) return;
    const end = Number(/^0-(\d+)$/.exec(String(status.headers.range))?.[1]);
    const offset = end === 0 && s.acked === 0 ? 0 : end + 1;
    if (offset !== s.acked && offset !== s.acked + s.inflight) {
      this.#violation(`${s.location}: offset ${offset} after the restart, acknowledged ${s.acked} (+${s.inflight} in flight)`);
      return;
    }
    const item = s.repo.blobs.get(s.digest)!;
    const res = await this.#send(`${s.location}?digest=${s.digest}`, {
      method: 'PUT',
      headers: offset < item.bytes.length ? { 'Content-Range': `${offset}-${item.bytes.length - 1}` } : {},
      body: item.bytes.subarray(offset),
    });
    if (!res || !this.#expect(res, 201, `resuming ${s.location} at ${offset}`)) return;
    item.present = true;
    item.dirty = true;
    this.figures.resumed++;
  }

  async #verifyItem(path: string, item: Item): Promise<void> {
    const res = await this.#send(path);
    if (!res) return;
    const exact = res.status === 200 && res.body.equals(item.bytes);
    if (item.present === true) {
      if (exact) this.figures.verified++;
      else {
        this.figures.lostOrCorrupt++;
        this.#violation(`acknowledged ${path} answers ${res.status} (${res.body.length} bytes, expected ${item.bytes.length})`);
      }
    } else if (exact) {
      item.present = true;
    } else if (res.status === 404) {
      item.present = false;
    } else {
      this.#violation(`${path} (${item.present === false ? 'deleted' : 'cut write'}) answers ${res.status} with ${res.body.length} bytes: half-written?`);
    }
    item.dirty = false;
  }

  async #verifyTag(repo: Repo, tag: string, set: Set<string | null>): Promise<void> {
    const res = await this.#send(`/v2/${repo.name}/manifests/${tag}`);
    if (!res) return;
    const digest = res.status === 200 ? String(res.headers['docker-content-digest']) : res.status === 404 ? null : undefined;
    const item = digest ? repo.manifests.get(digest) : undefined;
    if (digest === undefined || !set.has(digest) || (digest && !item?.bytes.equals(res.body))) {
      this.figures.lostOrCorrupt++;
      this.#violation(`tag ${tag} of ${repo.name} answers ${res.status} ${digest ?? ''}, expected one of ${[...set].join(', ')}`);
      return;
    }
    if (set.size === 1) this.figures.verified++;
    if (item) item.present = true;
    repo.tags.set(tag, new Set([digest]));
  }
}

/** `parts` increasing chunk end offsets covering most of `length` (the rest goes with the closing PUT). */
function splitRandom(length: number, parts: number): number[] {
  const ends = new Set<number>();
  while (ends.size < parts) ends.add(2 + randomInt(length - 3)); // chunks of 2+ bytes: a Range of 0-0 then means offset 0
  return [...ends].sort((a, b) => a - b);
}
