/**
 * Opens the stores that parsed storage settings name: the one place that
 * turns settings into a BlobStore and a MetadataStore, for `serve` and for
 * every subcommand (check, gc, usage).
 *
 * Blobs: S3 when `s3` is set, else DIR/blobs, else memory. Metadata:
 * PostgreSQL when `metadataUrl` is set, else DIR/metadata.db (SQLite), else
 * memory (config.ts refuses durable metadata with memory blobs and the
 * reverse). Each opened store is health-checked; whatever was opened is closed
 * again when a later step fails. The S3 and PostgreSQL modules are imported
 * only when asked for. With `tracing`, the stores returned are wrapped so that
 * their calls inside a request are spans.
 *
 * With `create: false` (the subcommands) nothing is created on disk: a storage
 * directory lacking what the settings need from it is a StorageMissingError,
 * and the filesystem store is not probed for writing.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BlobStore } from '../storage/blob/types.js';
import type { MetadataStore } from '../storage/meta/types.js';
import { MemoryBlobStore } from '../storage/blob/memory.js';
import { FilesystemBlobStore, openFilesystemBlobStore } from '../storage/blob/filesystem.js';
import { MemoryMetadataStore } from '../storage/meta/memory/index.js';
import { openSqliteMetadataStore } from '../storage/meta/sqlite/index.js';
import { redactUrl, type StorageConfig } from './config.js';
import type { StoreTracing } from './tracing.js';

export interface Stores {
  readonly blobStore: BlobStore;
  readonly metadataStore: MetadataStore;
  /** Where each store is, for logs and messages (no password): blobs, metadata, and S3 details. */
  readonly where: Readonly<Record<string, string>>;
}

export interface OpenStoresOptions {
  /** true (serve): create the storage directory and its parts; false (subcommands): require them. */
  readonly create: boolean;
  /** A pooled PostgreSQL connection failed while idle (the next query reconnects). */
  readonly onIdleError?: (err: Error) => void;
  /** Wraps the opened stores so that their calls inside a request are spans (tracing.ts). */
  readonly tracing?: StoreTracing;
}

/** A storage directory that lacks what the settings need from it (a subcommand's bad usage). */
export class StorageMissingError extends Error {
  constructor(dir: string, missing: readonly string[]) {
    super(`${dir} is not a storage directory (missing ${missing.join(', ')})`);
    this.name = 'StorageMissingError';
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Which store failed to open: a path of the storage directory (`path`), PostgreSQL or S3. */
export type StoreKind = 'directory' | 'postgres' | 's3';

/** openStores could not open or use a store; `cause` is the underlying error (startup-errors.ts explains it). */
export class StoreOpenError extends Error {
  constructor(readonly store: StoreKind, what: string, cause: unknown, readonly path?: string) {
    super(`cannot use ${what}: ${messageOf(cause)}`, { cause });
    this.name = 'StoreOpenError';
  }
}
const fail = (store: StoreKind, what: string, err: unknown, path?: string): Error => new StoreOpenError(store, what, err, path);

/** True when no durable store is set: serve keeps everything in memory. */
export function inMemory(storage: StorageConfig): boolean {
  return storage.storageDir === undefined && storage.s3 === undefined && storage.metadataUrl === undefined;
}

/** The paths of `dir` that `storage` needs and that are missing (DIR/blobs without S3, DIR/metadata.db without PostgreSQL). */
async function missingParts(dir: string, storage: StorageConfig): Promise<string[]> {
  const needed: [string, boolean][] = [];
  if (storage.s3 === undefined) needed.push([join(dir, 'blobs'), true]);
  if (storage.metadataUrl === undefined) needed.push([join(dir, 'metadata.db'), false]);
  const missing: string[] = [];
  for (const [path, isDir] of needed) {
    const info = await stat(path).catch(() => undefined);
    if (!info || info.isDirectory() !== isDir) missing.push(path);
  }
  return missing;
}

export async function openStores(storage: StorageConfig, options: OpenStoresOptions): Promise<Stores> {
  const stores = await openUntraced(storage, options);
  const tracing = options.tracing;
  return tracing ? { ...stores, blobStore: tracing.blobStore(stores.blobStore), metadataStore: tracing.metadataStore(stores.metadataStore) } : stores;
}

async function openUntraced(storage: StorageConfig, options: OpenStoresOptions): Promise<Stores> {
  if (inMemory(storage)) return { blobStore: new MemoryBlobStore(), metadataStore: new MemoryMetadataStore(), where: { storage: 'memory' } };
  const dir = storage.storageDir === undefined ? undefined : resolve(storage.storageDir);
  const usesDir = storage.s3 === undefined || storage.metadataUrl === undefined;
  if (dir !== undefined && usesDir) {
    if (options.create) {
      await mkdir(dir, { recursive: true }).catch((err: unknown) => Promise.reject(fail('directory', `storage directory ${dir}: cannot create it`, err, dir)));
    } else {
      const missing = await missingParts(dir, storage);
      if (missing.length > 0) throw new StorageMissingError(dir, missing);
    }
  }
  const opened: { blobStore?: BlobStore; metadataStore?: MetadataStore } = {};
  const where: Record<string, string> = {};
  const healthy = async (store: BlobStore | MetadataStore, kind: StoreKind, what: string, path?: string) =>
    store.checkHealth(AbortSignal.timeout(10_000)).catch((err: unknown) => Promise.reject(fail(kind, what, err, path)));
  try {
    let blobStore: BlobStore;
    const s3 = storage.s3;
    if (s3 !== undefined) {
      const what = `S3 bucket ${s3.bucket}${s3.endpoint ? ` at ${s3.endpoint}` : ''}`;
      const { openS3BlobStore } = await import('../s3.js');
      blobStore = await openS3BlobStore({
        bucket: s3.bucket,
        region: s3.region,
        forcePathStyle: s3.forcePathStyle,
        ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
        ...(s3.prefix !== undefined ? { prefix: s3.prefix } : {}),
        ...(s3.credentials !== undefined ? { credentials: s3.credentials } : {}),
        ...(options.create && s3.createBucket === true ? { createBucket: true } : {}),
      }).catch((err: unknown) => Promise.reject(fail('s3', what, err)));
      opened.blobStore = blobStore;
      await healthy(blobStore, 's3', what);
      where.blobs = `s3://${s3.bucket}/${s3.prefix ?? ''}`;
      if (s3.endpoint !== undefined) where.s3Endpoint = s3.endpoint;
      where.s3Credentials = s3.credentials ? 'static' : 'default chain';
    } else {
      const blobs = join(dir as string, 'blobs');
      if (options.create) {
        blobStore = await openFilesystemBlobStore(blobs).catch((err: unknown) => Promise.reject(fail('directory', `blob store ${blobs}`, err, blobs)));
        opened.blobStore = blobStore;
        await healthy(blobStore, 'directory', `blob store ${blobs}`, blobs);
      } else {
        blobStore = new FilesystemBlobStore(blobs);
        opened.blobStore = blobStore;
      }
      where.blobs = blobs;
    }
    let metadataStore: MetadataStore;
    if (storage.metadataUrl !== undefined) {
      const what = `PostgreSQL ${redactUrl(storage.metadataUrl)}`;
      const { openPostgresMetadataStore } = await import('../postgres.js');
      metadataStore = await openPostgresMetadataStore({
        connectionString: storage.metadataUrl,
        ...(storage.metadataSchema !== undefined ? { schema: storage.metadataSchema } : {}),
        ...(options.onIdleError ? { onIdleError: options.onIdleError } : {}),
      }).catch((err: unknown) => Promise.reject(fail('postgres', what, err)));
      opened.metadataStore = metadataStore;
      await healthy(metadataStore, 'postgres', what);
      where.metadata = redactUrl(storage.metadataUrl);
      if (storage.metadataSchema !== undefined) where.schema = storage.metadataSchema;
    } else {
      const file = join(dir as string, 'metadata.db');
      try {
        metadataStore = openSqliteMetadataStore(file);
        opened.metadataStore = metadataStore;
      } catch (err) {
        throw fail('directory', `metadata database ${file}`, err, file);
      }
      await healthy(metadataStore, 'directory', `metadata database ${file}`, file);
      where.metadata = file;
    }
    return { blobStore, metadataStore, where };
  } catch (err) {
    await Promise.allSettled([opened.blobStore?.close(), opened.metadataStore?.close()]);
    throw err;
  }
}

/** Closes both stores; resolves with the errors of those that failed to close. */
export async function closeStores(stores: Pick<Stores, 'blobStore' | 'metadataStore'>): Promise<unknown[]> {
  const results = await Promise.allSettled([stores.blobStore.close(), stores.metadataStore.close()]);
  return results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
}

/** A one-line description of where the stores are, e.g. "blobs s3://registry/, metadata postgres://…". */
export function describeStores(stores: Stores): string {
  return `blobs ${stores.where.blobs ?? stores.where.storage}, metadata ${stores.where.metadata ?? stores.where.storage}`;
}
