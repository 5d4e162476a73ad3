/**
 * Repository names and references (spec.md "Pulling manifests").
 * name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*, at most 255 characters.
 * tag:  [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 */
import { RegistryError } from './errors.js';
import { parseDigest, type ParsedDigest } from './digest.js';

export const MAX_NAME_LENGTH = 255;
export const MAX_TAG_LENGTH = 128;

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

// distribution/reference's domain: DNS labels joined by dots, or a bracketed IPv6 address; an optional port.
const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

/** Whether `host` is a registry host as a repository name's first component has it (`docker.io`, `localhost:5000`). */
export function isValidRegistryHost(host: string): boolean {
  return host.length <= MAX_NAME_LENGTH && HOST_RE.test(host);
}

export function isValidTag(tag: string): boolean {
  return tag.length <= MAX_TAG_LENGTH && TAG_RE.test(tag);
}

/** Throws NAME_INVALID when `name` is not a valid repository name. */
export function assertValidName(name: string): string {
  if (!isValidName(name)) {
    const shown = JSON.stringify(name.slice(0, 300));
    const why = name.length > MAX_NAME_LENGTH ? `longer than ${MAX_NAME_LENGTH} characters` : 'must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)*';
    throw new RegistryError('NAME_INVALID', `invalid repository name ${shown}: ${why}`);
  }
  return name;
}

/** A manifest reference: a tag or a digest. */
export type Reference = { readonly kind: 'tag'; readonly tag: string } | ({ readonly kind: 'digest' } & ParsedDigest);

/**
 * Parses a manifest `<reference>`: a digest when it contains ':', else a tag.
 * Throws DIGEST_INVALID for a bad digest, MANIFEST_INVALID (detail reason
 * TAG_INVALID, the legacy code) for a bad tag.
 */
export function parseReference(reference: string): Reference {
  if (reference.includes(':')) {
    return { kind: 'digest', ...parseDigest(reference) };
  }
  return { kind: 'tag', tag: assertValidTag(reference) };
}

/** Returns `tag` when valid; else throws MANIFEST_INVALID (detail reason TAG_INVALID, the legacy code). */
export function assertValidTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new RegistryError('MANIFEST_INVALID', `invalid tag ${JSON.stringify(tag.slice(0, 200))}: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, {
      detail: { reason: 'TAG_INVALID' },
    });
  }
  return tag;
}
