/**
 * The one parser of /v2 paths. Repository names contain slashes, so a path is
 * split once into raw segments and matched from the right:
 *
 *   /v2/                                   base
 *   /v2/_catalog                           catalog
 *   /v2/<name>/tags/list                   tags
 *   /v2/<name>/manifests/<reference>       manifest
 *   /v2/<name>/referrers/<digest>          referrers
 *   /v2/<name>/blobs/uploads/              uploads       (trailing slash optional)
 *   /v2/<name>/blobs/uploads/<id>          upload
 *   /v2/<name>/blobs/<digest>              blob
 *
 * Segments are percent-decoded one by one after splitting, so an encoded
 * slash can never change the structure; the decoded name is then validated
 * (NAME_INVALID). The reference, digest and id are returned raw-decoded and
 * validated by the services.
 */
import { RegistryError } from '../oci/errors.js';
import { assertValidName } from '../oci/names.js';

export type RouteKind = 'base' | 'catalog' | 'tags' | 'manifest' | 'referrers' | 'uploads' | 'upload' | 'blob';

export interface ParsedPath {
  readonly kind: RouteKind;
  /** Repository name (absent for base and catalog). */
  readonly name?: string;
  /** Reference, digest or upload id, depending on kind. */
  readonly ref?: string;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RegistryError('NAME_INVALID', `path segment ${JSON.stringify(segment.slice(0, 100))} is not valid percent-encoding`);
  }
}

function named(kind: RouteKind, nameSegments: string[], ref?: string): ParsedPath {
  if (nameSegments.length === 0) throw new RegistryError('NAME_INVALID', 'repository name is empty');
  const parts = nameSegments.map(decode);
  if (parts.some((p) => p.includes('/'))) throw new RegistryError('NAME_INVALID', 'repository name must not contain encoded slashes');
  const name = assertValidName(parts.join('/'));
  return ref === undefined ? { kind, name } : { kind, name, ref };
}

/**
 * Parses the path part of a URL below `/v2` (the query already removed).
 * Returns undefined when the path is not a /v2 endpoint at all.
 */
export function parseV2Path(path: string): ParsedPath | undefined {
  if (path === '/v2' || path === '/v2/') return { kind: 'base' };
  if (!path.startsWith('/v2/')) return undefined;
  const s = path.slice(4).split('/');
  const n = s.length;
  if (n === 1 && s[0] === '_catalog') return { kind: 'catalog' };
  if (n >= 3 && s[n - 2] === 'tags' && s[n - 1] === 'list') return named('tags', s.slice(0, n - 2));
  if (n >= 3 && s[n - 2] === 'manifests' && s[n - 1] !== '') return named('manifest', s.slice(0, n - 2), decode(s[n - 1]!));
  if (n >= 3 && s[n - 2] === 'referrers' && s[n - 1] !== '') return named('referrers', s.slice(0, n - 2), decode(s[n - 1]!));
  if (n >= 3 && s[n - 2] === 'blobs' && s[n - 1] === 'uploads') return named('uploads', s.slice(0, n - 2));
  if (n >= 4 && s[n - 3] === 'blobs' && s[n - 2] === 'uploads') {
    return s[n - 1] === '' ? named('uploads', s.slice(0, n - 3)) : named('upload', s.slice(0, n - 3), decode(s[n - 1]!));
  }
  if (n >= 3 && s[n - 2] === 'blobs' && s[n - 1] !== '') return named('blob', s.slice(0, n - 2), decode(s[n - 1]!));
  return undefined;
}
