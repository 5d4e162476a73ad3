/** The pull log of the in-memory MetadataStore (../pulls.ts PullLog); `enter` is the store's entry check. */
import type { Digest } from '../../../oci/digest-type.js';
import type { ManifestPull, PullLog } from '../pulls.js';
import type { PageOptions } from '../types.js';
import { SortedKeys } from './schema.js';

export class MemoryPulls implements PullLog {
  readonly #repos = new Map<string, { times: Map<Digest, number>; order: SortedKeys<Digest> }>();

  constructor(private readonly enter: (signal: AbortSignal | undefined) => void) {}

  async recordManifestPulls(pulls: readonly ManifestPull[], signal?: AbortSignal): Promise<void> {
    this.enter(signal);
    for (const p of pulls) {
      let repo = this.#repos.get(p.repository);
      if (!repo) this.#repos.set(p.repository, (repo = { times: new Map(), order: new SortedKeys() }));
      repo.times.set(p.digest, Math.max(repo.times.get(p.digest) ?? -Infinity, p.pulledAt));
      repo.order.add(p.digest);
    }
  }

  async listManifestPulls(repository: string, page: PageOptions, signal?: AbortSignal): Promise<ManifestPull[]> {
    this.enter(signal);
    const repo = this.#repos.get(repository);
    return repo ? repo.order.page(page).map((digest) => ({ repository, digest, pulledAt: repo.times.get(digest)! })) : [];
  }

  async forgetManifestPulls(repository: string, digests: readonly Digest[], signal?: AbortSignal): Promise<number> {
    this.enter(signal);
    const repo = this.#repos.get(repository);
    let n = 0;
    for (const d of new Set(digests)) {
      if (repo?.times.delete(d)) {
        repo.order.delete(d);
        n++;
      }
    }
    return n;
  }
}
