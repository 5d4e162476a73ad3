/**
 * Starts a registry on a real loopback socket over a chosen storage
 * configuration, for the API tests: `memory` (both stores in memory) or
 * `disk` (filesystem blobs + SQLite metadata in a fresh temp dir).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createRegistry, type RegistryOptions } from '../src/registry.js';
import type { RegistryLimits } from '../src/limits.js';
import { MemoryBlobStore } from '../src/storage/blob/memory.js';
import { openFilesystemBlobStore } from '../src/storage/blob/filesystem.js';
import { MemoryMetadataStore } from '../src/storage/meta/memory/index.js';
import { openSqliteMetadataStore } from '../src/storage/meta/sqlite/index.js';
import type { BlobStore } from '../src/storage/blob/types.js';
import type { MetadataStore } from '../src/storage/meta/types.js';

export type StorageKind = 'memory' | 'disk';
export const STORAGE_KINDS: readonly StorageKind[] = ['memory', 'disk'];

export interface TestRegistry {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly blobStore: BlobStore;
  readonly metadataStore: MetadataStore;
  /** The storage dir (disk only). */
  readonly dir?: string;
  /** Stops the server and closes the stores; keeps the dir. */
  stop(): Promise<void>;
  /** Stops and removes the dir. */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly limits?: Partial<RegistryLimits>;
  /** Reuse this storage dir (disk only), e.g. to test a restart. */
  readonly dir?: string;
  readonly sweepIntervalMs?: number;
  /** Garbage collection settings; default: POST /admin/gc only, no background schedule. */
  readonly gc?: RegistryOptions['gc'];
  readonly storagePolicy?: RegistryOptions['storagePolicy'];
  /** Upstream registries to mirror (pull-through cache). */
  readonly mirrors?: RegistryOptions['mirrors'];
  /** The server's logger; default none. */
  readonly logger?: FastifyBaseLogger;
}

export async function openStores(kind: StorageKind, dir?: string): Promise<{ blobStore: BlobStore; metadataStore: MetadataStore; dir?: string }> {
  if (kind === 'memory') return { blobStore: new MemoryBlobStore(), metadataStore: new MemoryMetadataStore() };
  const root = dir ?? (await mkdtemp(join(tmpdir(), 'ferro-oci-test-')));
  return { blobStore: await openFilesystemBlobStore(join(root, 'blobs')), metadataStore: openSqliteMetadataStore(join(root, 'metadata.db')), dir: root };
}

export async function startRegistry(kind: StorageKind, options: StartOptions = {}): Promise<TestRegistry> {
  const stores = await openStores(kind, options.dir);
  // forceCloseConnections: close() must not wait up to keepAliveTimeout (72 s) for a
  // keep-alive connection whose last response Node still counts as in flight.
  const app = options.logger ? Fastify({ loggerInstance: options.logger, forceCloseConnections: true }) : Fastify({ logger: false, forceCloseConnections: true });
  const registryOptions: RegistryOptions = {
    blobStore: stores.blobStore,
    metadataStore: stores.metadataStore,
    ...(options.limits ? { limits: options.limits } : {}),
    sweepIntervalMs: options.sweepIntervalMs ?? 0,
    gc: options.gc ?? { intervalMs: 0 },
    ...(options.storagePolicy ? { storagePolicy: options.storagePolicy } : {}),
    ...(options.mirrors ? { mirrors: options.mirrors } : {}),
  };
  await app.register(createRegistry(registryOptions));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.close();
    await stores.blobStore.close();
    await stores.metadataStore.close();
  };
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    blobStore: stores.blobStore,
    metadataStore: stores.metadataStore,
    ...(stores.dir ? { dir: stores.dir } : {}),
    stop,
    close: async () => {
      await stop();
      if (stores.dir && !options.dir) await rm(stores.dir, { recursive: true, force: true });
    },
  };
}
