/**
 * The integrity check of a registry's stores (`ferro-oci-server check`),
 * through the two ports only (any backend: filesystem, S3, SQLite,
 * PostgreSQL); blobs are streamed. It reads both stores and reports, without
 * changing anything:
 *
 * - blob-corrupt         a committed blob's bytes do not hash to its digest
 * - manifest-corrupt     a manifest's bytes do not hash to its digest or size
 * - manifest-invalid     a stored manifest no longer parses
 * - reference-missing    a config/layer absent from the blob store or of
 *                        another size; an index child not in the repository
 * - tag-dangling         a tag naming a manifest that does not exist
 * - link-content-missing a blob link whose content is absent
 * - link-size-mismatch   a blob link whose content has another size
 * - upload-expired       an upload session idle for longer than the session TTL
 * - upload-orphaned      upload data without a session, older than the session TTL
 *
 * and, as warnings (legal states, which leave the check passing):
 *
 * - reference-unlinked   a config/layer a client unlinked from the repository
 *                        (DELETE on the blob, which the spec allows) while a
 *                        manifest still references it: its content is kept
 *                        (a referenced blob is never collected), but pulls of
 *                        it from that repository answer 404 until it is
 *                        pushed or mounted again
 *
 * It may run next to a live registry (its writes keep every invariant at each
 * step), but then reflects no single instant. Memory use is O(page size) plus
 * one repository's manifest digests.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_LIMITS } from '../limits.js';
import { digestAlgorithm, digestFromHex, digestOf, tryParseDigest } from '../oci/digest.js';
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import type { BlobStore } from '../storage/blob/types.js';
import type { MetadataStore } from '../storage/meta/types.js';
import { paged } from './paged.js';

export type ProblemKind =
  | 'blob-corrupt'
  | 'manifest-corrupt'
  | 'manifest-invalid'
  | 'reference-missing'
  | 'tag-dangling'
  | 'link-content-missing'
  | 'link-size-mismatch'
  | 'upload-expired'
  | 'upload-orphaned';

export type WarningKind = 'reference-unlinked';

export interface CheckProblem {
  readonly kind: ProblemKind;
  readonly repository?: string;
  /** The blob, manifest or upload id at fault. */
  readonly subject: string;
  readonly message: string;
}

export interface CheckCounts {
  readonly repositories: number;
  readonly manifests: number;
  readonly tags: number;
  readonly blobLinks: number;
  /** Committed blobs in the BlobStore, linked or not. */
  readonly blobs: number;
  readonly blobBytes: number;
  /** Upload areas in the BlobStore (with or without a session). */
  readonly uploads: number;
}

export interface CheckWarning extends Omit<CheckProblem, 'kind'> {
  readonly kind: WarningKind;
}

export interface CheckReport {
  readonly counts: CheckCounts;
  readonly problems: readonly CheckProblem[];
  /** Legal states worth knowing; they do not fail the check. */
  readonly warnings: readonly CheckWarning[];
}

export interface CheckOptions {
  /** Upload sessions and orphaned upload data older than this are problems. Default DEFAULT_LIMITS.uploadSessionTtlMs. */
  readonly uploadSessionTtlMs?: number;
  /** The current time, ms since the epoch. Default Date.now(). */
  readonly now?: number;
  /** Entries per listing call. Default 500. */
  readonly pageSize?: number;
  /** Called after each blob's bytes were verified, with the blobs and bytes verified so far. */
  readonly onProgress?: (progress: { readonly blobs: number; readonly blobBytes: number }) => void;
  readonly signal?: AbortSignal;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Checks `blobs` and `meta` against each other; resolves with what was checked and every problem found. */
export async function checkStores(blobs: BlobStore, meta: MetadataStore, options: CheckOptions = {}): Promise<CheckReport> {
  const ttl = options.uploadSessionTtlMs ?? DEFAULT_LIMITS.uploadSessionTtlMs;
  const now = options.now ?? Date.now();
  const size = options.pageSize ?? 500;
  const signal = options.signal;
  const counts: Mutable<CheckCounts> = { repositories: 0, manifests: 0, tags: 0, blobLinks: 0, blobs: 0, blobBytes: 0, uploads: 0 };
  const problems: CheckProblem[] = [];
  const problem = (kind: ProblemKind, subject: string, message: string, repository?: string) =>
    problems.push({ kind, subject, message, ...(repository === undefined ? {} : { repository }) });
  const warnings: CheckWarning[] = [];

  // Blob content.
  for await (const digest of blobs.list(signal)) {
    const stream = await blobs.read(digest, undefined, signal);
    if (!stream) continue; // deleted meanwhile
    const algorithm = digestAlgorithm(digest); // list() yields only valid digests
    const hash = createHash(algorithm);
    let bytes = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    counts.blobs++;
    counts.blobBytes += bytes;
    const actual = digestFromHex(algorithm, hash.digest('hex'));
    if (actual !== digest) problem('blob-corrupt', digest, `content hashes to ${actual}`);
    options.onProgress?.({ blobs: counts.blobs, blobBytes: counts.blobBytes });
  }

  for await (const repository of paged((p) => meta.listRepositories(p, signal), (r) => r, size)) {
    counts.repositories++;
    const where = (what: string) => `${what} in ${repository}`;

    for await (const link of paged((p) => meta.listBlobLinks(repository, p, signal), (l) => l.digest, size)) {
      counts.blobLinks++;
      const info = await blobs.stat(link.digest, signal);
      if (!info) problem('link-content-missing', link.digest, where('linked blob has no content'), repository);
      else if (info.size !== link.size) problem('link-size-mismatch', link.digest, where(`linked with ${link.size} bytes, content has ${info.size}`), repository);
    }

    const manifests = new Set<string>();
    for await (const digest of paged((p) => meta.listManifests(repository, p, signal), (d) => d, size)) {
      counts.manifests++;
      manifests.add(digest);
      const record = await meta.getManifest(repository, digest, signal);
      if (!record) continue; // deleted meanwhile
      const algorithm = tryParseDigest(digest)?.algorithm ?? 'sha256'; // a check does not trust a stored digest to be valid
      const actual = digestOf(record.bytes, algorithm);
      if (actual !== digest || record.size !== record.bytes.byteLength) {
        problem('manifest-corrupt', digest, where(`bytes hash to ${actual} (${record.bytes.byteLength} bytes, recorded ${record.size})`), repository);
        continue;
      }
      let parsed: ParsedManifest;
      try {
        parsed = parseManifest(record.bytes, record.mediaType);
      } catch (err) {
        problem('manifest-invalid', digest, where(`does not parse: ${err instanceof Error ? err.message : String(err)}`), repository);
        continue;
      }
      for (const ref of parsed.blobs) {
        const link = await meta.getBlobLink(repository, ref.digest, signal);
        const info = await blobs.stat(ref.digest, signal);
        const why = !info
          ? 'has no content'
          : link && link.size !== ref.size
            ? `is linked with ${link.size} bytes, not ${ref.size}`
            : info.size !== ref.size
              ? `has ${info.size} bytes, not ${ref.size}`
              : undefined;
        if (why) problem('reference-missing', digest, where(`references blob ${ref.digest}, which ${why}`), repository);
        else if (!link) {
          warnings.push({ kind: 'reference-unlinked', subject: digest, repository, message: where(`references blob ${ref.digest}, which a client unlinked (its content is kept; pulls of it from ${repository} answer 404 until it is pushed again)`) });
        }
      }
      for (const ref of parsed.manifests) {
        const child = await meta.getManifest(repository, ref.digest, signal);
        const why = !child ? 'is not in the repository' : child.size !== ref.size ? `has ${child.size} bytes, not ${ref.size}` : undefined;
        if (why) problem('reference-missing', digest, where(`references manifest ${ref.digest}, which ${why}`), repository);
      }
    }

    for await (const tag of paged((p) => meta.listTags(repository, p, signal), (t) => t, size)) {
      counts.tags++;
      const target = await meta.getTag(repository, tag, signal);
      if (target === undefined || manifests.has(target)) continue;
      if (!(await meta.getManifest(repository, target, signal))) problem('tag-dangling', tag, where(`tag points at ${target}, which does not exist`), repository);
    }
  }

  // Upload sessions (bounded by the registry's session limit) and upload data.
  for (const session of await meta.listIdleUploads(now - ttl, 100_000, signal)) {
    problem('upload-expired', session.id, `upload session in ${session.repository} idle since ${new Date(session.updatedAt).toISOString()}`, session.repository);
  }
  for await (const upload of blobs.listUploads(signal)) {
    counts.uploads++;
    if (now - upload.modifiedAt < ttl || (await meta.getUpload(upload.id, signal))) continue;
    problem('upload-orphaned', upload.id, `upload data (${upload.size} bytes) without a session, last written ${new Date(upload.modifiedAt).toISOString()}`);
  }
  return { counts, problems, warnings };
}

/** The report as text lines: one summary line, then one line per problem. */
export function formatReport(report: CheckReport): string[] {
  const c = report.counts;
  const lines = [
    `checked ${c.repositories} repositories, ${c.manifests} manifests, ${c.tags} tags, ${c.blobLinks} blob links, ` +
      `${c.blobs} blobs (${c.blobBytes} bytes), ${c.uploads} upload areas`,
  ];
  for (const p of report.problems) lines.push(`problem ${p.kind} ${p.subject}: ${p.message}`);
  for (const w of report.warnings) lines.push(`warning ${w.kind} ${w.subject}: ${w.message}`);
  lines.push(report.problems.length === 0 ? 'OK: no problems found' : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} found`);
  return lines;
}
