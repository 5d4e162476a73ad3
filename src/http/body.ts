/** Reading a small request body (a manifest) whole, under a size limit. */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../oci/errors.js';
import { contentLength } from './headers.js';

/**
 * Reads the body into one Buffer. Throws MANIFEST_TOO_LARGE (413) as soon as
 * the announced or received length passes `limit`, SIZE_INVALID when fewer
 * bytes arrive than Content-Length announced.
 */
export async function readSmallBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const announced = contentLength(request.headers);
  const tooLarge = () => new RegistryError('MANIFEST_TOO_LARGE', `manifest is larger than the limit of ${limit} bytes`);
  if (announced !== undefined && announced > limit) throw tooLarge();
  const parts: Buffer[] = [];
  let received = 0;
  for await (const part of request as AsyncIterable<Buffer>) {
    received += part.length;
    if (received > limit) throw tooLarge();
    parts.push(part);
  }
  if (announced !== undefined && received !== announced) {
    throw new RegistryError('SIZE_INVALID', `received ${received} bytes but Content-Length announced ${announced}`);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, received);
}
