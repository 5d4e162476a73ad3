/** Parsing of the request headers and query parameters the /v2 API reads. */
import type { IncomingHttpHeaders } from 'node:http';
import type { DigestAlgorithm } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { isValidRegistryHost } from '../oci/names.js';
import type { ByteRange } from '../storage/blob/types.js';

/** Content-Length as a number, or undefined when absent. Throws SIZE_INVALID when malformed. */
export function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d{1,16}$/.test(raw)) throw new RegistryError('SIZE_INVALID', `Content-Length ${JSON.stringify(raw.slice(0, 40))} is not a number`);
  return Number(raw);
}

/** Whether the request carries a body (a non-zero Content-Length or chunked transfer). */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = contentLength(headers);
  return length !== undefined ? length > 0 : headers['transfer-encoding'] !== undefined;
}

const CONTENT_RANGE_RE = /^(?:bytes[ =])?(\d{1,16})-(\d{1,16})(?:\/(?:\d{1,16}|\*))?$/;

/**
 * An upload chunk's Content-Range (spec "Pushing a blob in chunks": `^[0-9]+-[0-9]+$`,
 * inclusive; the `bytes ` prefix and `/total` suffix some clients add are tolerated).
 * Throws BLOB_UPLOAD_OUT_OF_ORDER (416) for a malformed or inverted range.
 */
export function uploadContentRange(headers: IncomingHttpHeaders): ByteRange | undefined {
  const raw = headers['content-range'];
  if (raw === undefined) return undefined;
  const m = CONTENT_RANGE_RE.exec(raw.trim());
  const start = m ? Number(m[1]) : NaN;
  const end = m ? Number(m[2]) : NaN;
  if (!m || end < start) {
    throw new RegistryError('BLOB_UPLOAD_OUT_OF_ORDER', `Content-Range ${JSON.stringify(raw.slice(0, 60))} must be <start>-<end>, inclusive, with start ≤ end`);
  }
  return { start, end };
}

/**
 * A blob GET's `Range` header against a blob of `size` bytes (RFC 9110 §14).
 * Returns undefined to serve the whole blob (no header, another unit, several
 * ranges); throws RANGE_NOT_SATISFIABLE (416) when the one range cannot be served.
 */
export function blobRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=\s*(\d*)-(\d*)\s*$/.exec(header);
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  const unsatisfiable = () =>
    new RegistryError('RANGE_NOT_SATISFIABLE', `range ${header.slice(0, 60)} cannot be served from a blob of ${size} bytes`, {
      headers: { 'Content-Range': `bytes */${size}` },
    });
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || (b !== '' && Number(b) < start)) throw unsatisfiable();
  return { start, end };
}

/** One query parameter's value (the first when repeated). */
export function queryParam(query: unknown, name: string): string | undefined {
  const value = (query as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Every value of a repeated query parameter, in order. */
export function queryParams(query: unknown, name: string): string[] {
  const value = (query as Record<string, string | string[] | undefined>)[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/**
 * The `digest-algorithm` parameter (distribution-spec-next "Pushing a blob in
 * chunks", end-4c; also honoured by a manifest push by tag). An unsupported
 * algorithm is DIGEST_INVALID (400, "Pushing blobs": SHOULD).
 */
export function digestAlgorithmParam(query: unknown): DigestAlgorithm | undefined {
  const algorithm = queryParam(query, 'digest-algorithm');
  if (algorithm === undefined || algorithm === 'sha256' || algorithm === 'sha512') return algorithm;
  throw new RegistryError('DIGEST_INVALID', `unsupported digest-algorithm ${JSON.stringify(algorithm.slice(0, 40))}: use sha256 or sha512`);
}

/**
 * The `ns` query parameter (distribution-spec-next "Registry Proxying"): the
 * source host of the repository name the client used, e.g. `docker.io`, as
 * containerd sends it to a mirror. Not a registry host: NAME_INVALID (400).
 */
export function sourceNamespace(query: unknown): string | undefined {
  const ns = queryParam(query, 'ns');
  if (ns === undefined) return undefined;
  if (!isValidRegistryHost(ns)) throw new RegistryError('NAME_INVALID', `ns=${JSON.stringify(ns.slice(0, 100))} is not a registry host such as docker.io or localhost:5000`);
  return ns;
}

/** The `n` of tags/list and _catalog: a non-negative integer, else PAGINATION_INVALID (400). */
export function pageSize(query: unknown): number | undefined {
  const raw = queryParam(query, 'n');
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw new RegistryError('PAGINATION_INVALID', `n=${JSON.stringify(raw.slice(0, 40))} must be a non-negative integer`);
  return Number(raw);
}

/** The query parameter `name` as an integer from `min` to `max`; undefined when absent; UNSUPPORTED (400) otherwise. */
export function integerParam(query: unknown, name: string, min: number, max: number): number | undefined {
  const raw = queryParam(query, name);
  if (raw === undefined) return undefined;
  const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) throw new RegistryError('UNSUPPORTED', `${name}=${JSON.stringify(raw.slice(0, 40))} must be an integer from ${min} to ${max}`);
  return n;
}
