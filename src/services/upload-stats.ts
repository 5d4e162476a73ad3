/**
 * Counters of where resumed upload sessions got their sha256 from, for the
 * metrics (server/upload-metrics.ts). One per process; UploadService counts.
 */
export class UploadStats {
  /** Writers this process resumed: a request on a session whose writer was on another replica, stale, or lost with a restart. */
  resumes = 0;
  /** Of those, resumed without reading anything back: from the session's saved hash state (or at offset 0). */
  resumesWithoutReread = 0;
  /** Bytes read back from blob storage to rebuild a hash (0 while every resume has a saved state). */
  rehashedBytes = 0;
}
