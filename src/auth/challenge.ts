/**
 * WWW-Authenticate challenges and the 401 UNAUTHORIZED errors that carry
 * them: `Bearer realm="…",service="…",scope="…"` (RFC 6750; the Docker token
 * flow) or `Basic realm="…", charset="UTF-8"` (RFC 7617). Every value put in
 * a quoted string is validated first (config values at load, names by the
 * path parser, a forwarded host by http/proxy.ts), so no quote can be injected.
 */
import { RegistryError } from '../oci/errors.js';

/** Whether `value` may go in a quoted challenge parameter (printable ASCII, no `"` or `\`). */
export function isQuotable(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value) && !value.includes('"') && !value.includes('\\');
}

export interface BearerChallenge {
  readonly realm: string;
  readonly service: string;
  readonly scopes?: readonly string[];
  /** RFC 6750 error code: the token was bad, or does not grant enough. */
  readonly error?: 'invalid_token' | 'insufficient_scope';
}

export function bearerChallenge(c: BearerChallenge): string {
  let value = `Bearer realm="${c.realm}",service="${c.service}"`;
  if (c.scopes && c.scopes.length > 0) value += `,scope="${c.scopes.join(' ')}"`;
  if (c.error) value += `,error="${c.error}"`;
  return value;
}

export function basicChallenge(realm: string): string {
  return `Basic realm="${realm}", charset="UTF-8"`;
}

/** 401 UNAUTHORIZED with `challenge` as WWW-Authenticate. */
export function unauthorized(challenge: string, message = 'authentication required'): RegistryError {
  return new RegistryError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': challenge } });
}
