/**
 * The upload sessions' resume counters (services/upload-stats.ts, docs/replicas.md
 * "Upload hash state"), read at scrape time:
 *   upload_resumes_total               writers resumed by this process
 *   upload_resumes_without_reread_total  of those, resumed reading nothing back (saved sha256 state, or offset 0)
 *   upload_rehash_bytes_total          bytes read back from blob storage to rebuild a sha256
 */
import prom from 'prom-client';
import type { UploadStats } from '../services/upload-stats.js';

const COUNTERS: Array<[string, string, keyof UploadStats]> = [
  ['upload_resumes_total', 'Upload writers resumed by this process (the session was on another replica, stale, or lost with a restart).', 'resumes'],
  ['upload_resumes_without_reread_total', 'Resumed upload writers that read nothing back (continued from the saved sha256 state, or at offset 0).', 'resumesWithoutReread'],
  ['upload_rehash_bytes_total', 'Bytes of partial uploads read back from blob storage to rebuild their sha256.', 'rehashedBytes'],
];

export function registerUploadMetrics(register: prom.Registry, prefix: string, stats: UploadStats): void {
  for (const [name, help, key] of COUNTERS) {
    new prom.Counter({
      name: `${prefix}${name}`,
      help,
      registers: [register],
      collect() {
        this.reset();
        this.inc(stats[key]);
      },
    });
  }
}
