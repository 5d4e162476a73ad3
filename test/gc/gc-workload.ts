/**
 * The live traffic of the online GC test (gc-workload.test.ts): workers push
 * images (monolithic, POST+PUT and chunked uploads, mounts), pull them back,
 * move tags, delete manifests and unlink blobs, while collectors run in a
 * tight loop. Layers come from a small shared pool, so the same digests are
 * unlinked, orphaned, collected and pushed again all the time: the race of
 * distribution #3544 / quay #6318.
 *
 * Each worker owns two repositories and keeps an exact model of them: every
 * acknowledged tag and manifest, and every blob link with the time until
 * which its receipt guarantees it (docs/gc.md: an upload, mount or HEAD keeps
 * an unreferenced link for at least the grace period). Anything the model
 * says is live must be served with its exact bytes; any other answer is a
 * failure. A third repository per worker has retention (keep the last tag)
 * and the untagged policy: its older images are pruned while the worker
 * pushes new ones on the same layers (uploaded, mounted, or skipped after a
 * HEAD), and every such manifest PUT must succeed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { digestOf } from '../../src/oci/digest.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const TAGS = ['t0', 't1', 't2', 't3'];

const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[randomInt(xs.length)]);

interface Image {
  readonly digest: string;
  readonly bytes: Buffer;
  readonly blobs: readonly string[];
}

interface Repo {
  readonly name: string;
  /** Acknowledged blob links: digest -> time until which the receipt guarantees the link (unreferenced). */
  readonly linked: Map<string, number>;
  /** Under retention and the untagged policy: only the last pushed tag is modelled. */
  readonly pruned: boolean;
  /** The layers of the images pushed, last two (pruned repositories: the next push reuses the older one's). */
  readonly history: Buffer[][];
  readonly manifests: Map<string, Image>;
  /** tag -> manifest digest */
  readonly tags: Map<string, string>;
}

export interface WorkloadFigures {
  requests: number;
  failures: number;
  pushes: number;
  mounts: number;
  pulls: number;
  tagMoves: number;
  manifestDeletes: number;
  blobDeletes: number;
  /** Unlinks immediately followed by a push of the same bytes and a manifest referencing them. */
  repushes: number;
  /** The digests pushed again that way. */
  repushed: Set<string>;
  /** Image pushes (manifest PUT 201). */
  acknowledgedPushes: number;
  /** Layers skipped after a HEAD found them. */
  headSkips: number;
  /** digest -> time of the last acknowledged upload (or mount) of it. */
  lastPushed: Map<string, number>;
  /** Pushes into the repositories under retention and the untagged policy. */
  prunedRepoPushes: number;
  /** Manifest PUTs refused MANIFEST_BLOB_UNKNOWN though every blob was uploaded, mounted or found by HEAD in the same push. */
  blobUnknownPuts: number;
  /** The first failures, for the assertion message. */
  messages: string[];
}

export class GcWorkload {
  readonly figures: WorkloadFigures = {
    requests: 0, failures: 0, pushes: 0, mounts: 0, pulls: 0, tagMoves: 0, manifestDeletes: 0, blobDeletes: 0, repushes: 0, repushed: new Set(),
    acknowledgedPushes: 0, headSkips: 0, lastPushed: new Map(), prunedRepoPushes: 0, blobUnknownPuts: 0, messages: [],
  };
  /** Layer contents shared by every worker: digest -> bytes. */
  readonly pool = new Map<string, Buffer>();
  /** Every blob pushed (pool layers and configs): digest -> bytes. */
  readonly contents = new Map<string, Buffer>();
  readonly workers: Repo[][];

  /**
   * @param graceMs the collectors' grace: an unreferenced link received at
   *   `t` is guaranteed until `t + graceMs` (the server keeps it longer).
   * @param prunedPrefix repositories `<prefix>/w<N>` get pushes and pulls only (the test configures their policies).
   */
  constructor(
    private readonly url: string,
    workers: number,
    poolSize: number,
    private readonly graceMs: number,
    readonly prunedPrefix = 'wl-pruned',
  ) {
    for (let i = 0; i < poolSize; i++) {
      const bytes = randomBytes(512 + randomInt(48 * 1024));
      this.pool.set(digestOf(bytes), bytes);
      this.contents.set(digestOf(bytes), bytes);
    }
    const repo = (name: string, pruned: boolean): Repo => ({ name, pruned, linked: new Map(), manifests: new Map(), tags: new Map(), history: [] });
    this.workers = Array.from({ length: workers }, (_, w) => [repo(`wl/w${w}/a`, false), repo(`wl/w${w}/b`, false), repo(`${prunedPrefix}/w${w}`, true)]);
  }

  /** Runs every worker until `deadline` (ms since the epoch). */
  async run(deadline: number): Promise<void> {
    await Promise.all(this.workers.map((repos) => this.#worker(repos, deadline)));
  }

  async #worker(all: Repo[], deadline: number): Promise<void> {
    const repos = all.filter((r) => !r.pruned);
    const pruned = all.find((r) => r.pruned)!;
    while (Date.now() < deadline) {
      const repo = pick(repos)!;
      const other = repos.find((r) => r !== repo)!;
      const r = randomInt(115);
      if (r >= 100) {
        if (await this.#pushImage(pruned, repo)) await this.#pull(pruned);
      } else if (r < 30) await this.#pushImage(repo, other);
      else if (r < 55) await this.#pull(repo);
      else if (r < 63) await this.#moveTag(repo);
      else if (r < 73) await this.#deleteManifest(repo);
      else if (r < 88) await this.#deleteBlob(repo);
      else await this.#repush(repo, other);
    }
  }

  #fail(message: string): false {
    this.figures.failures++;
    if (this.figures.messages.length < 30) this.figures.messages.push(message);
    return false;
  }

  async #request(method: string, path: string, init: { body?: Buffer; headers?: Record<string, string> } = {}): Promise<Response | undefined> {
    this.figures.requests++;
    try {
      return await fetch(this.url + path, { method, ...init, signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      this.#fail(`${method} ${path}: ${String(err)}`);
      return undefined;
    }
  }

  /** Whether the model guarantees `digest` in `repo` at `at`: referenced by a manifest, or received recently. */
  #guaranteed(repo: Repo, digest: string, at = Date.now()): boolean {
    if (!repo.pruned && [...repo.manifests.values()].some((m) => m.blobs.includes(digest))) return true;
    return (repo.linked.get(digest) ?? 0) > at;
  }

  /** A receipt of `digest` in `repo` by a request sent at `sentAt` (upload, mount, HEAD 200). */
  #received(repo: Repo, digest: string, sentAt: number): void {
    repo.linked.set(digest, Math.max(repo.linked.get(digest) ?? 0, sentAt + this.graceMs));
  }

  async #expect(res: Response | undefined, status: number, what: string): Promise<boolean> {
    if (!res) return false;
    if (res.status === status) return true;
    return this.#fail(`${what}: expected ${status}, got ${res.status} ${(await res.text()).slice(0, 300)}`);
  }

  /** Links `bytes` into `repo` by one of the three upload flows, or by a mount from `from` when it holds them. */
  async #pushBlob(repo: Repo, bytes: Buffer, from?: Repo): Promise<boolean> {
    const digest = digestOf(bytes);
    const base = `/v2/${repo.name}/blobs/uploads/`;
    let ok: boolean;
    const sentAt = Date.now();
    if (from && this.#guaranteed(from, digest, sentAt) && randomInt(2) === 0) {
      this.figures.mounts++;
      ok = await this.#expect(await this.#request('POST', `${base}?mount=${digest}&from=${from.name}`), 201, `mount ${digest} into ${repo.name}`);
    } else {
      const mode = randomInt(3);
      if (mode === 0) {
        ok = await this.#expect(await this.#request('POST', `${base}?digest=${digest}`, { body: bytes }), 201, `monolithic push to ${repo.name}`);
      } else {
        const post = await this.#request('POST', base);
        if (!(await this.#expect(post, 202, `POST ${base}`))) return false;
        let location = post!.headers.get('location')!;
        if (mode === 2 && bytes.length > 1) {
          const half = Math.floor(bytes.length / 2);
          const patch = await this.#request('PATCH', location, { body: bytes.subarray(0, half), headers: { 'content-range': `0-${half - 1}`, 'content-type': 'application/octet-stream' } });
          if (!(await this.#expect(patch, 202, `PATCH ${location}`))) return false;
          location = patch!.headers.get('location')!;
          bytes = bytes.subarray(half);
        }
        const put = await this.#request('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
        ok = await this.#expect(put, 201, `PUT ${location} in ${repo.name}`);
      }
    }
    if (ok) {
      this.#received(repo, digest, sentAt);
      this.figures.lastPushed.set(digest, sentAt);
    }
    return ok;
  }

  /** Pushes config + 1-3 pool layers (skipping those a HEAD finds, as clients do) and the manifest under a tag. */
  async #pushImage(repo: Repo, other: Repo, layers: Buffer[] = []): Promise<boolean> {
    this.figures.pushes++;
    if (repo.pruned) this.figures.prunedRepoPushes++;
    const pool = [...this.pool.values()];
    // A pruned repository's next build reuses the layers of the image before last: untagged by the last
    // push, it is being pruned while this push uploads or HEAD-skips them.
    if (repo.pruned && repo.history.length === 2 && randomInt(10) < 7) layers.push(...repo.history[0]!);
    while (layers.length < 1 + randomInt(3)) layers.push(pick(pool)!);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(6).toString('hex') }));
    this.contents.set(digestOf(config), config);
    for (const bytes of [config, ...layers]) {
      const digest = digestOf(bytes);
      if (repo.linked.has(digest)) {
        const sentAt = Date.now();
        const guaranteed = this.#guaranteed(repo, digest, sentAt);
        const head = await this.#request('HEAD', `/v2/${repo.name}/blobs/${digest}`);
        if (head?.status === 200) {
          this.figures.headSkips++;
          this.#received(repo, digest, sentAt); // a HEAD renews the receipt
          continue;
        }
        if (guaranteed || head?.status !== 404) return this.#expect(head, 200, `HEAD linked ${digest} in ${repo.name}`);
        repo.linked.delete(digest); // reclaimed: its receipt was older than the grace
      }
      if (!(await this.#pushBlob(repo, bytes, other))) return false;
    }
    const descriptor = (mediaType: string, b: Buffer) => ({ mediaType, digest: digestOf(b), size: b.length });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: descriptor('application/vnd.oci.image.config.v1+json', config),
        layers: layers.map((l) => descriptor('application/vnd.oci.image.layer.v1.tar', l)),
      }),
    );
    const tag = pick(TAGS)!;
    if (repo.pruned) await new Promise((r) => setTimeout(r, randomInt(250))); // a slow client: the collectors run meanwhile
    const res = await this.#request('PUT', `/v2/${repo.name}/manifests/${tag}`, { body: manifest, headers: { 'content-type': MANIFEST } });
    if (res?.status === 400) {
      const body = await res.clone().text();
      if (body.includes('MANIFEST_BLOB_UNKNOWN')) this.figures.blobUnknownPuts++;
    }
    if (!(await this.#expect(res, 201, `PUT manifest ${repo.name}:${tag}`))) return false;
    this.figures.acknowledgedPushes++;
    const digest = digestOf(manifest);
    if (repo.pruned) {
      // Retention keeps only the newest tag: the model keeps only this image.
      repo.tags.clear();
      repo.manifests.clear();
      repo.history.push(layers);
      if (repo.history.length > 2) repo.history.shift();
    }
    if (repo.tags.has(tag) && repo.tags.get(tag) !== digest) this.figures.tagMoves++;
    repo.manifests.set(digest, { digest, bytes: manifest, blobs: [digestOf(config), ...layers.map((l) => digestOf(l))] });
    repo.tags.set(tag, digest);
    return true;
  }

  /** Pulls a tagged image: the manifest by tag and every blob, checking the bytes. */
  async #pull(repo: Repo): Promise<boolean> {
    const tag = pick([...repo.tags.keys()]);
    if (tag === undefined) return true;
    this.figures.pulls++;
    const image = repo.manifests.get(repo.tags.get(tag)!)!;
    const res = await this.#request('GET', `/v2/${repo.name}/manifests/${tag}`, { headers: { accept: MANIFEST } });
    if (!(await this.#expect(res, 200, `GET manifest ${repo.name}:${tag}`))) return false;
    if (!Buffer.from(await res!.arrayBuffer()).equals(image.bytes)) return this.#fail(`manifest ${repo.name}:${tag} has other bytes`);
    for (const digest of image.blobs) {
      const blob = await this.#request('GET', `/v2/${repo.name}/blobs/${digest}`);
      if (!(await this.#expect(blob, 200, `GET blob ${digest} of ${repo.name}:${tag}`))) return false;
      if (digestOf(Buffer.from(await blob!.arrayBuffer())) !== digest) return this.#fail(`blob ${digest} of ${repo.name} has other bytes`);
    }
    return true;
  }

  /** Points another tag at an existing manifest of the repository. */
  async #moveTag(repo: Repo): Promise<boolean> {
    const image = pick([...repo.manifests.values()]);
    if (!image) return this.#pushImage(repo, repo);
    const tag = pick(TAGS)!;
    const res = await this.#request('PUT', `/v2/${repo.name}/manifests/${tag}`, { body: image.bytes, headers: { 'content-type': MANIFEST } });
    if (!(await this.#expect(res, 201, `move ${repo.name}:${tag}`))) return false;
    if (repo.tags.get(tag) !== image.digest) this.figures.tagMoves++;
    repo.tags.set(tag, image.digest);
    return true;
  }

  async #deleteManifest(repo: Repo): Promise<boolean> {
    const image = pick([...repo.manifests.values()]);
    if (!image) return true;
    const res = await this.#request('DELETE', `/v2/${repo.name}/manifests/${image.digest}`);
    if (!(await this.#expect(res, 202, `DELETE manifest ${image.digest} of ${repo.name}`))) return false;
    this.figures.manifestDeletes++;
    repo.manifests.delete(image.digest);
    for (const [tag, digest] of repo.tags) if (digest === image.digest) repo.tags.delete(tag);
    return true;
  }

  /** Unlinks a blob no manifest of the repository references; returns its digest. */
  async #unlinkOne(repo: Repo): Promise<string | undefined> {
    const referenced = new Set([...repo.manifests.values()].flatMap((m) => m.blobs));
    const digest = pick([...repo.linked.keys()].filter((d) => !referenced.has(d)));
    if (digest === undefined) return undefined;
    const guaranteed = this.#guaranteed(repo, digest);
    const res = await this.#request('DELETE', `/v2/${repo.name}/blobs/${digest}`);
    if (res?.status === 404 && !guaranteed) {
      repo.linked.delete(digest); // reclaimed meanwhile
      return undefined;
    }
    if (!(await this.#expect(res, 202, `DELETE blob ${digest} of ${repo.name}`))) return undefined;
    this.figures.blobDeletes++;
    repo.linked.delete(digest);
    return digest;
  }

  async #deleteBlob(repo: Repo): Promise<boolean> {
    if ((await this.#unlinkOne(repo)) === undefined && repo.manifests.size > 0) return this.#deleteManifest(repo);
    return true;
  }

  /**
   * Unlinks a blob and at once pushes the same bytes again with a manifest
   * referencing them, then pulls it. A config is linked in this repository
   * only, so it is garbage the moment it is unlinked.
   */
  async #repush(repo: Repo, other: Repo): Promise<boolean> {
    const digest = await this.#unlinkOne(repo);
    const bytes = digest === undefined ? undefined : this.contents.get(digest);
    if (bytes === undefined) return true;
    this.figures.repushes++;
    this.figures.repushed.add(digest!);
    if (!(await this.#pushImage(randomInt(2) === 0 ? repo : other, repo, [bytes]))) return false;
    return this.#pull(repo);
  }

  /** After the run: every tag, manifest and linked blob of the model is served with its bytes. */
  async verify(): Promise<void> {
    for (const repo of this.workers.flat()) {
      for (const [tag, digest] of repo.tags) {
        const res = await this.#request('GET', `/v2/${repo.name}/manifests/${tag}`, { headers: { accept: MANIFEST } });
        if (await this.#expect(res, 200, `final GET ${repo.name}:${tag}`)) {
          if (digestOf(Buffer.from(await res!.arrayBuffer())) !== digest) this.#fail(`final ${repo.name}:${tag} is not ${digest}`);
        }
      }
      const now = Date.now();
      for (const digest of new Set([...repo.linked.keys(), ...[...repo.manifests.values()].flatMap((m) => m.blobs)])) {
        if (!this.#guaranteed(repo, digest, now)) continue;
        const res = await this.#request('GET', `/v2/${repo.name}/blobs/${digest}`);
        if (await this.#expect(res, 200, `final GET blob ${digest} of ${repo.name}`)) {
          if (digestOf(Buffer.from(await res!.arrayBuffer())) !== digest) this.#fail(`final blob ${digest} of ${repo.name} has other bytes`);
        }
      }
    }
  }
}
