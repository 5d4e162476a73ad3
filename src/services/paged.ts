import type { PageOptions } from '../storage/meta/types.js';

/**
 * Every entry of a keyset listing of the MetadataStore, fetched `size` at a
 * time: each page starts after the key of the previous page's last entry, and
 * a short page ends it. Entries written meanwhile may or may not be seen.
 */
export async function* paged<T>(list: (page: PageOptions) => Promise<T[]>, key: (entry: T) => string, size: number): AsyncGenerator<T> {
  let last: string | undefined;
  for (;;) {
    const page = await list(last === undefined ? { limit: size } : { last, limit: size });
    yield* page;
    if (page.length < size) return;
    last = key(page[page.length - 1]!);
  }
}
