/**
 * Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>`
 * over `<webhook-id>.<webhook-timestamp>.<body>`, the id being the event's
 * (stable across redeliveries, for deduplication) and the timestamp the
 * attempt's, in seconds.
 */
import { createHmac } from 'node:crypto';

/** The HMAC key of a secret: the base64 after `whsec_`, else the text's UTF-8 bytes. */
export function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', signingKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The webhook-* headers of one attempt; the signature only with a secret. */
export function webhookHeaders(id: string, timestampSeconds: number, body: string, secret: string | undefined): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    ...(secret === undefined ? {} : { 'webhook-signature': sign(secret, id, timestampSeconds, body) }),
  };
}
