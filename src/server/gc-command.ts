/**
 * `ferro-oci-server gc`: one garbage collection run (services/gc.ts) on the
 * stores the storage settings name (a storage directory, or S3 and
 * PostgreSQL), opened as the server opens them (stores.ts); safe next to
 * running servers on the same stores. Prints progress (at most one line a
 * second) and a summary: blobs scanned, deleted, bytes freed, time taken.
 * The configuration file's retention and untagged rules (parsed with the
 * command line, config.ts) are applied first, one line per tag and manifest
 * removed (dry run: that would be removed); with a `mirrors` section, the
 * mirror's eviction runs as in the server (services/mirror/eviction.ts).
 */
import { resolveLimits } from '../limits.js';
import { collectGarbage, formatGcReport, type GcReport } from '../services/gc.js';
import { MirrorEviction } from '../services/mirror/eviction.js';
import { PullRecorder } from '../services/mirror/pulls.js';
import { emptyStats } from '../services/mirror/stats.js';
import { StoragePolicy } from '../services/policy.js';
import { UploadService } from '../services/uploads.js';
import { openCommandStores, type CheckOutput } from './check-command.js';
import type { GcCommandConfig } from './config.js';
import { closeStores, describeStores } from './stores.js';

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Exit codes: 0 done, 1 failed or some deletions failed, 2 bad usage (not a storage directory). */
export async function runGcCommand(config: GcCommandConfig, out: CheckOutput, err: CheckOutput, signal?: AbortSignal): Promise<number> {
  const { upkeep } = config;
  const graceMs = config.graceMs ?? upkeep.gc?.graceMs;
  const stores = await openCommandStores('gc', config.storage, err);
  if (typeof stores === 'number') return stores;
  const { blobStore, metadataStore } = stores;
  const uploads = new UploadService(blobStore, metadataStore, resolveLimits());
  out.write(`collecting garbage in ${describeStores(stores)}${config.dryRun ? ' (dry run: nothing is deleted)' : ''}\n`);
  let lastLine = 0;
  try {
    const report: GcReport = await collectGarbage(
      { blobStore, metadataStore },
      {
        dryRun: config.dryRun,
        ...(graceMs !== undefined ? { graceMs } : {}),
        ...(upkeep.storagePolicy ? { policy: new StoragePolicy(upkeep.storagePolicy) } : {}),
        sweepUploads: (s) => uploads.sweep(undefined, s),
        ...(config.mirrors?.length ? { eviction: new MirrorEviction(metadataStore, config.mirrors, new PullRecorder(metadataStore), () => emptyStats()) } : {}),
        progressEvery: 200,
        onProgress: (p) => {
          if (Date.now() - lastLine < 1000) return;
          lastLine = Date.now();
          out.write(`progress: scanned ${p.scanned} blobs, ${config.dryRun ? 'would delete' : 'deleted'} ${p.deleted} (${p.bytesFreed} bytes)\n`);
        },
        ...(signal ? { signal } : {}),
      },
    );
    out.write(formatGcReport(report, true).join('\n') + '\n');
    return report.errors === 0 ? 0 : 1;
  } catch (e) {
    err.write(`ferro-oci-server gc: failed: ${messageOf(e)}\n`);
    return 1;
  } finally {
    await closeStores(stores);
  }
}
