/**
 * `ferro-oci-server check`: runs the integrity check (services/check.ts) on a
 * storage directory laid out as the server lays it out (DIR/blobs,
 * DIR/metadata.db). It creates nothing: a directory that is not a storage
 * directory is bad usage. Safe to run next to a live server.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkStores, formatReport } from '../services/check.js';
import { FilesystemBlobStore } from '../storage/blob/filesystem.js';
import { openSqliteMetadataStore } from '../storage/meta/sqlite/index.js';

export interface CheckOutput {
  write(text: string): unknown;
}

/** The paths a storage directory lacks (DIR/blobs, DIR/metadata.db); empty for a storage directory. */
export async function missingStoragePaths(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (const [path, isDir] of [[join(dir, 'blobs'), true], [join(dir, 'metadata.db'), false]] as const) {
    const info = await stat(path).catch(() => undefined);
    if (!info || info.isDirectory() !== isDir) missing.push(path);
  }
  return missing;
}

/** Exit codes: 0 clean (warnings only, too), 1 problems found or the stores could not be read, 2 not a storage directory. */
export async function runCheckCommand(storageDir: string, out: CheckOutput, err: CheckOutput): Promise<number> {
  const dir = resolve(storageDir);
  const missing = await missingStoragePaths(dir);
  if (missing.length > 0) {
    err.write(`ferro-oci-server check: ${dir} is not a storage directory (missing ${missing.join(', ')})\n`);
    return 2;
  }
  out.write(`checking ${dir}\n`);
  const blobStore = new FilesystemBlobStore(join(dir, 'blobs'));
  let metadataStore;
  try {
    metadataStore = openSqliteMetadataStore(join(dir, 'metadata.db'));
  } catch (e) {
    err.write(`ferro-oci-server check: cannot open ${join(dir, 'metadata.db')}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  try {
    const report = await checkStores(blobStore, metadataStore);
    out.write(formatReport(report).join('\n') + '\n');
    return report.problems.length === 0 ? 0 : 1;
  } catch (e) {
    err.write(`ferro-oci-server check: failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    await Promise.allSettled([blobStore.close(), metadataStore.close()]);
  }
}
