/**
 * The digest types alone, without node:crypto, for modules the web UI's
 * browser bundle reaches through the port types (storage/meta/types.ts).
 * Everything else imports them from digest.ts.
 */
export type DigestAlgorithm = 'sha256' | 'sha512';

declare const parsed: unique symbol;

/**
 * A digest that is known valid: parseDigest accepted it, or it was computed
 * (digestOf, BlobWriter.digest), or a store read it back. It is still the
 * string `algorithm:encoded` (a map key, an SQL parameter, a header value as
 * it is); the brand only records that it was parsed, so the layers below the
 * one that parsed it (http/, once per request) never parse it again, and the
 * ports (BlobStore, MetadataStore) accept nothing else. digestAlgorithm and
 * digestEncoded read its parts without validating.
 */
export type Digest = string & { readonly [parsed]: true };
