/** What the server's request log says about blob uploads: mounts, uploads, HEADs (see Registry.requestsSince). */
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { digestOf } from '../images.js';
import type { LogMark, Registry, RequestRecord } from './server.js';
/** sha256 of the gunzipped bytes (a layer's diff_id). */
export function diffIdOf(gz: Buffer): string {
  return digestOf(gunzipSync(gz));
}

/** The query parameters of a logged request URL. */
export function queryOf(url: string): URLSearchParams {
  const i = url.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : url.slice(i + 1));
}

/**
 * What the server saw for blob uploads into `repo` since `mark`: digests
 * mounted (POST ?mount=&from= answered 201, with the source repos) and
 * digests uploaded (PUT of an upload session with ?digest=).
 */
export function blobTraffic(registry: Registry, mark: LogMark, repo: string): { mounted: Map<string, string>; mountAttempts: RequestRecord[]; uploaded: Set<string> } {
  const prefix = `/v2/${repo}/blobs/uploads/`;
  const mounted = new Map<string, string>();
  const mountAttempts: RequestRecord[] = [];
  const uploaded = new Set<string>();
  for (const r of registry.requestsSince(mark)) {
    if (!r.url.startsWith(prefix)) continue;
    const q = queryOf(r.url);
    if (r.method === 'POST' && q.has('mount')) {
      mountAttempts.push(r);
      if (r.status === 201) mounted.set(q.get('mount')!, q.get('from') ?? '');
    }
    if ((r.method === 'PUT' || r.method === 'POST') && q.has('digest') && (r.status === 201 || r.status === undefined)) uploaded.add(q.get('digest')!);
  }
  return { mounted, mountAttempts, uploaded };
}

/**
 * Asserts that every digest of `shared` reached `repo` by a cross-repository
 * mount (POST ?mount=&from= answered 201) from one of `from`, and none was
 * uploaded again.
 */
export async function assertMounted(registry: Registry, mark: LogMark, repo: string, from: readonly string[], shared: readonly string[]): Promise<string> {
  await registry.sync();
  const { mounted, mountAttempts, uploaded } = blobTraffic(registry, mark, repo);
  const seen = () =>
    `mount requests seen: ${mountAttempts.map((r) => `${r.method} ${r.url} -> ${r.status}`).join('; ') || 'none'}; uploads (?digest=): ${[...uploaded].join(', ') || 'none'}`;
  assert.ok(mountAttempts.length > 0, `the server saw no cross-repository mount request (POST /v2/${repo}/blobs/uploads/?mount=...&from=...); ${seen()}`);
  for (const d of shared) {
    assert.ok(!uploaded.has(d), `shared layer ${d} was uploaded again into ${repo} instead of mounted; ${seen()}`);
    const source = mounted.get(d);
    assert.ok(source !== undefined && from.includes(source), `shared layer ${d} was not mounted (201) from ${from.join(' or ')}; ${seen()}`);
  }
  const sources = [...new Set(shared.map((d) => mounted.get(d)))].join(', ');
  return `${shared.length} shared layers mounted from ${sources} (${mountAttempts.length} mount requests, ${uploaded.size} blobs uploaded)`;
}

/** Asserts that nothing was uploaded into or mounted to `repo` since `mark` (a re-push found every blob by HEAD). */
export async function assertNothingUploaded(registry: Registry, mark: LogMark, repo: string): Promise<string> {
  await registry.sync();
  const { mountAttempts, uploaded } = blobTraffic(registry, mark, repo);
  const heads = registry.requestsSince(mark).filter((r) => r.method === 'HEAD' && r.url.startsWith(`/v2/${repo}/blobs/`));
  assert.deepEqual([...uploaded], [], `blobs uploaded again into ${repo}`);
  assert.deepEqual(
    mountAttempts.map((r) => r.url),
    [],
    `mount requests into ${repo}`,
  );
  return `${heads.length} blob HEAD requests (${heads.filter((r) => r.status === 200).length} answered 200), nothing uploaded`;
}

