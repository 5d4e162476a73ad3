/**
 * `ferro-oci-server check`: runs the integrity check (services/check.ts) on
 * the stores the storage settings name (a storage directory, or S3 and
 * PostgreSQL), opened as the server opens them (stores.ts). It creates
 * nothing on disk: a directory that is not a storage directory is bad usage.
 * Blobs are streamed through the BlobStore port. Safe to run next to live
 * servers.
 */
import { checkStores, formatReport } from '../services/check.js';
import type { StorageConfig } from './config.js';
import { closeStores, describeStores, openStores, StorageMissingError, type Stores } from './stores.js';

export interface CheckOutput {
  write(text: string): unknown;
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Opens the stores for subcommand `name`, or writes why it cannot and
 * resolves with the exit code: 2 for a storage directory that is not one, 1
 * for a store that cannot be opened.
 */
export async function openCommandStores(name: string, storage: StorageConfig, err: CheckOutput): Promise<Stores | number> {
  try {
    return await openStores(storage, {
      create: false,
      onIdleError: (e) => err.write(`ferro-oci-server ${name}: an idle PostgreSQL connection failed (the next query reconnects): ${e.message}\n`),
    });
  } catch (e) {
    err.write(`ferro-oci-server ${name}: ${messageOf(e)}\n`);
    return e instanceof StorageMissingError ? 2 : 1;
  }
}

/** Exit codes: 0 clean (warnings only, too), 1 problems found or the stores could not be read, 2 not a storage directory. */
export async function runCheckCommand(storage: StorageConfig, out: CheckOutput, err: CheckOutput): Promise<number> {
  const stores = await openCommandStores('check', storage, err);
  if (typeof stores === 'number') return stores;
  out.write(`checking ${describeStores(stores)}\n`);
  let lastLine = Date.now();
  try {
    const report = await checkStores(stores.blobStore, stores.metadataStore, {
      onProgress: (p) => {
        if (Date.now() - lastLine < 1000) return;
        lastLine = Date.now();
        out.write(`progress: verified ${p.blobs} blobs (${p.blobBytes} bytes)\n`);
      },
    });
    out.write(formatReport(report).join('\n') + '\n');
    return report.problems.length === 0 ? 0 : 1;
  } catch (e) {
    err.write(`ferro-oci-server check: failed: ${messageOf(e)}\n`);
    return 1;
  } finally {
    await closeStores(stores);
  }
}
