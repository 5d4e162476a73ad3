/**
 * `ferro-oci-server usage`: the storage used per repository (services/usage.ts)
 * of the stores the storage settings name (opened as the server opens them,
 * stores.ts), largest first, as a table or JSON. Read-only; safe
 * next to a running server.
 */
import { formatBytes, repositoryUsage } from '../services/usage.js';
import { openCommandStores, type CheckOutput } from './check-command.js';
import type { StorageConfig } from './config.js';
import { closeStores } from './stores.js';

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Exit codes: 0 done, 1 failed, 2 not a storage directory. */
export async function runUsageCommand(options: { storage: StorageConfig; top?: number; json: boolean }, out: CheckOutput, err: CheckOutput): Promise<number> {
  const stores = await openCommandStores('usage', options.storage, err);
  if (typeof stores === 'number') return stores;
  const meta = stores.metadataStore;
  try {
    const all = await repositoryUsage(meta);
    const stats = await meta.stats();
    const shown = options.top === undefined ? all : all.slice(0, options.top);
    if (options.json) {
      out.write(JSON.stringify({ repositories: shown, totals: { repositories: all.length, distinctBlobs: stats.blobs, distinctBlobBytes: stats.blobBytes } }, null, 2) + '\n');
      return 0;
    }
    const width = Math.max(10, ...shown.map((u) => u.repository.length));
    out.write(`${'repository'.padEnd(width)}  ${'blobs'.padStart(8)}  ${'manifests'.padStart(9)}  ${'size'.padStart(10)}  bytes\n`);
    for (const u of shown) {
      out.write(`${u.repository.padEnd(width)}  ${String(u.blobs).padStart(8)}  ${String(u.manifests).padStart(9)}  ${formatBytes(u.bytes).padStart(10)}  ${u.bytes}\n`);
    }
    if (shown.length < all.length) out.write(`(${all.length - shown.length} smaller repositories not shown)\n`);
    out.write(`${all.length} repositories; ${stats.blobs} distinct blobs linked, ${formatBytes(stats.blobBytes)} (${stats.blobBytes} bytes), each counted once\n`);
    return 0;
  } catch (e) {
    err.write(`ferro-oci-server usage: failed: ${messageOf(e)}\n`);
    return 1;
  } finally {
    await closeStores(stores);
  }
}
