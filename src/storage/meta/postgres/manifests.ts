/**
 * The manifest writes of the PostgreSQL MetadataStore (types.ts): the
 * putManifest transaction, and the ManifestLifecycle transactions over the
 * version 3 column `manifests.used_at` (NULL reads as created_at) with the tag
 * writes of putManifest and deleteTag that maintain it. Each runs in the
 * store's transaction: READ COMMITTED, where every statement sees what was
 * committed before it started, with explicit row locks instead of
 * SERIALIZABLE (no serialization failures to retry).
 *
 * Locks, always taken in this order so that writers queue instead of
 * deadlocking (the store still retries a deadlock the server detects):
 *   blob links → manifest → the manifest a tag leaves → the tag
 * - putManifest: its reference checks (blob links, child manifests FOR
 *   SHARE), its manifest row (insert, or the used_at update of a put again),
 *   then setTagTx: the manifest the tag points at now (used_at update), then
 *   the tag row (conditional write).
 * - deleteManifest (one DELETE): the manifest, then its tags (cascade).
 * - deleteTagTx: the manifest the tag points at (used_at update), then the tag.
 * - deleteManifestIfTx: the manifest (FOR UPDATE), then its tags and refs (cascade).
 * - unlinkIfTx (lifecycle.ts): the blob link (FOR UPDATE), then the
 *   digest's blobs row.
 * A tag is read without a lock first and written only when it still holds the
 * digest read (UPDATE/DELETE ... AND digest = $read, INSERT ... ON CONFLICT DO
 * NOTHING): a write that affects no row means another transaction changed the
 * tag meanwhile, and the step is done again with the new value. READ
 * COMMITTED re-evaluates the condition on the newest row version after
 * waiting for its lock, so the check and the write are one atomic step.
 */
import type { Digest } from '../../../oci/digest.js';
import { missingReferences } from '../references.js';
import type { BlobRef, ManifestDeleteConditions, PutManifestInput, PutManifestResult } from '../types.js';
import { found, type TxQuery } from './statements.js';

/** Rounds of read-then-conditional-write before giving up (each lost round means another writer committed). */
const TAG_ATTEMPTS = 100;

async function currentTag(query: TxQuery, repository: string, tag: string): Promise<Digest | undefined> {
  return (await query<{ digest: Digest }>('getTag', [repository, tag])).rows[0]?.digest;
}

function contended(what: string): Error {
  return new Error(`${what}: the tag kept changing under concurrent writes (${TAG_ATTEMPTS} attempts)`);
}

/**
 * The tag part of putManifest, after the manifest row is written and locked:
 * points `tag` at `digest` (updated_at = now) and stamps used_at of the
 * manifest it leaves. With `immutable`, resolves the digest the tag holds when
 * it is another one, writing nothing (the caller rolls back); otherwise
 * resolves undefined. When the tag moves between our read and our write, the
 * manifest stamped may not be the one it finally left (that one is stamped on
 * the next round): a use recorded in excess, which only delays retention.
 */
export async function setTagTx(query: TxQuery, repository: string, tag: string, digest: Digest, now: number, immutable: boolean): Promise<Digest | undefined> {
  for (let attempt = 0; attempt < TAG_ATTEMPTS; attempt++) {
    const current = await currentTag(query, repository, tag);
    if (current === undefined) {
      if ((await query('insertTag', [repository, tag, digest, now])).rowCount !== 0) return undefined;
      continue; // created meanwhile
    }
    if (immutable && current !== digest) return current;
    if (current !== digest) await query('touchManifest', [repository, current, now]); // before the tag: see the lock order
    if ((await query('moveTag', [repository, tag, digest, now, current])).rowCount !== 0) return undefined;
  }
  throw contended(`putManifest ${repository}:${tag}`);
}

/** deleteTag: removes the tag and stamps used_at of the manifest it pointed at with `now`. */
export async function deleteTagTx(query: TxQuery, repository: string, tag: string, now: number): Promise<boolean> {
  for (let attempt = 0; attempt < TAG_ATTEMPTS; attempt++) {
    const current = await currentTag(query, repository, tag);
    if (current === undefined) return false;
    await query('touchManifest', [repository, current, now]); // before the tag: see the lock order
    if ((await query('deleteTagAt', [repository, tag, current])).rowCount !== 0) return true;
  }
  throw contended(`deleteTag ${repository}:${tag}`);
}

/**
 * deleteManifestIf: see ManifestLifecycle. The manifest row is locked FOR
 * UPDATE before any condition is read, which makes every condition stable
 * until commit: a tag set on it (the tag's foreign-key check takes FOR KEY
 * SHARE on the row), an index put referencing it (its check takes FOR SHARE),
 * a put again or a use (an UPDATE of the row) all wait for us, and find it
 * gone if we delete it (the put then stores it anew, the index reports it
 * missing); what committed before we got the lock, the following statements
 * see. Blob links stay (receipts: unlinkBlobIf removes them). A dry run takes
 * no lock, writes nothing and is rolled back by the caller.
 */
export async function deleteManifestIfTx(query: TxQuery, repository: string, digest: Digest, c: ManifestDeleteConditions): Promise<boolean> {
  const write = c.dryRun !== true;
  const row = (await query<{ subject: Digest | null; usedAt: number }>(write ? 'lockManifestUse' : 'manifestUse', [repository, digest])).rows[0];
  if (row === undefined) return false;
  if (c.untagged === true && (await found(query, 'manifestTagged', [repository, digest]))) return false;
  if (c.unreferenced === true && (await found(query, 'manifestReferenced', [repository, digest]))) return false;
  if (c.usedBefore !== undefined && !(row.usedAt < c.usedBefore)) return false;
  if (row.subject !== null && c.referrers === 'keep') return false;
  if (row.subject !== null && c.referrers === 'orphans' && (await found(query, 'manifestExists', [repository, row.subject]))) return false;
  if (!write) return true;
  await query('deleteManifest', [repository, digest]); // tags and refs by cascade
  return true;
}

/**
 * putManifest. The references are checked with SELECT ... FOR SHARE in the
 * write transaction: a concurrent unlinkBlob/deleteManifest (a DELETE) of a
 * checked row waits for our commit; one that committed first makes the row
 * vanish from the locking read (READ COMMITTED re-checks a row it waited
 * for), so the put reports it missing. A reference cannot go away between
 * check and insert. The manifest insert locks an already stored row (ON
 * CONFLICT DO UPDATE WHERE false), so a concurrent deleteManifest cannot
 * remove it before the tag pointing at it is written. A result with `ok:
 * false` (a reference missing, an immutable tag taken) must be rolled back:
 * the manifest row of a tag taken is written already.
 */
export async function putManifestTx(query: TxQuery, input: PutManifestInput): Promise<PutManifestResult> {
  const { repository, digest } = input;
  // Sorted: concurrent puts of overlapping tag sets take the tag locks in one order.
  const tags = [...new Set(input.tags ?? [])].sort();
  const immutable = new Set(input.immutableTags ?? []);
  for (const tag of tags.filter((t) => immutable.has(t))) {
    // Refused early, before the references (as the other stores); setTagTx checks again under the lock.
    const current = await currentTag(query, repository, tag);
    if (current !== undefined && current !== digest) return { ok: false, missing: [], tagTaken: { tag, digest: current } };
  }
  const lockSizes = async (kind: 'blob' | 'manifest', refs: readonly BlobRef[]): Promise<Map<Digest, number>> => {
    if (refs.length === 0) return new Map();
    const digests = [...new Set(refs.map((r) => r.digest))];
    const locked = await query<BlobRef>(kind === 'blob' ? 'lockBlobLinks' : 'lockManifests', [repository, digests]);
    return new Map(locked.rows.map((r) => [r.digest, r.size]));
  };
  const blobs = await lockSizes('blob', input.blobs);
  const manifests = await lockSizes('manifest', input.manifests);
  const missing = missingReferences(input, (kind, d) => (kind === 'blob' ? blobs : manifests).get(d));
  if (missing.length > 0) return { ok: false, missing };

  const bytes = Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength);
  const annotations = input.annotations === undefined ? null : JSON.stringify(input.annotations);
  const { mediaType, subject = null, artifactType = null, now } = input;
  await query('insertManifest', [repository, digest, mediaType, bytes, bytes.byteLength, subject, artifactType, annotations, now]);
  const refs = [...input.blobs.map((b) => ['blob', b.digest]), ...input.manifests.map((m) => ['manifest', m.digest])];
  if (refs.length > 0) await query('insertRefs', [repository, digest, refs.map((r) => r[0]), refs.map((r) => r[1])]);
  for (const tag of tags) {
    const taken = await setTagTx(query, repository, tag, digest, now, immutable.has(tag));
    if (taken !== undefined) return { ok: false, missing: [], tagTaken: { tag, digest: taken } };
  }
  return { ok: true };
}
