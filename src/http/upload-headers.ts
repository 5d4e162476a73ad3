/** The headers that tell a client where an upload stands (spec "Pushing blobs"). */
import { UploadOutOfOrderError } from '../services/uploads.js';

/** The `Range` header value of an upload at `offset` bytes (spec: `0-<end-of-range>`). */
export function uploadRange(offset: number): string {
  return `0-${Math.max(offset - 1, 0)}`;
}

/** The upload URL of a session (relative, as spec "POST then PUT" allows). */
export function uploadLocation(repository: string, id: string): string {
  return `/v2/${repository}/blobs/uploads/${id}`;
}

/** Headers an error answer carries from the typed values of its error: Range (and Location) of a 416 upload answer. */
export function uploadErrorHeaders(error: unknown): Record<string, string> {
  if (!(error instanceof UploadOutOfOrderError)) return {};
  const { offset, session } = error;
  return { Range: uploadRange(offset), ...(session ? { Location: uploadLocation(session.repository, session.id) } : {}) };
}
