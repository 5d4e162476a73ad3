/**
 * Digests (image-spec descriptor.md "Digests"): `algorithm ":" encoded`.
 * Registered algorithms accepted here: sha256 (64 lowercase hex) and sha512
 * (128 lowercase hex). Anything else is DIGEST_INVALID (400), as
 * distribution-spec-next "Pushing blobs" asks for an unsupported algorithm.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Digest, DigestAlgorithm } from './digest-type.js';
import { RegistryError } from './errors.js';

export type { Digest, DigestAlgorithm };

export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  readonly encoded: string;
  /** The canonical string form `algorithm:encoded`. */
  readonly digest: Digest;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// descriptor.md: algorithm-component [a-z0-9]+ joined by [+._-]; encoded [a-zA-Z0-9=_-]+
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** True when `value` looks like a digest in the general grammar (any algorithm). */
export function looksLikeDigest(value: string): boolean {
  return value.includes(':') && DIGEST_GRAMMAR.test(value);
}

/**
 * Parses and validates a digest. Throws RegistryError DIGEST_INVALID when the
 * grammar, the algorithm or the encoded length is wrong.
 */
export function parseDigest(value: string): ParsedDigest {
  if (value.length > 300 || !DIGEST_GRAMMAR.test(value)) {
    throw new RegistryError('DIGEST_INVALID', `invalid digest ${JSON.stringify(value.slice(0, 200))}: expected algorithm:hex`);
  }
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm ${JSON.stringify(algorithm)}: use sha256 or sha512`);
  }
  if (encoded.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(encoded)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${algorithm} digest: expected ${HEX_LENGTH[algorithm]} lowercase hex characters`);
  }
  return { algorithm, encoded, digest: value as Digest };
}

/** Non-throwing variant of parseDigest. */
export function tryParseDigest(value: string): ParsedDigest | undefined {
  try {
    return parseDigest(value);
  } catch {
    return undefined;
  }
}

/** The algorithm of a valid digest (no validation: the type says it was done). */
export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

/** The encoded (hex) part of a valid digest. */
export function digestEncoded(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/**
 * `algorithm:hex` from a hash just computed with `algorithm`: a Digest
 * without parsing, since it is valid by construction.
 */
export function digestFromHex(algorithm: DigestAlgorithm, hex: string): Digest {
  return `${algorithm}:${hex}` as Digest;
}

/** A fresh hasher for the algorithm. */
export function createDigester(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

/** The digest of a buffer, e.g. a manifest's exact bytes. */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return digestFromHex(algorithm, createHash(algorithm).update(bytes).digest('hex'));
}

/** True when `bytes` hash to `digest`. Throws DIGEST_INVALID when `digest` is not valid. */
export function verifyDigest(bytes: Uint8Array, digest: string): boolean {
  const parsed = parseDigest(digest);
  return digestOf(bytes, parsed.algorithm) === parsed.digest;
}
