#!/usr/bin/env node
/**
 * The ferro-oci-server binary. Configuration: see config.ts or --help.
 *
 * Logs JSON lines (pino) to stdout. Once listening it logs exactly one line
 * with msg "listening" and the bound `address`, `port`, `family` and `url`.
 * On SIGTERM/SIGINT: /ready turns 503, no new connections are accepted,
 * in-flight requests get the shutdown timeout to finish (then their
 * connections are closed), the stores are closed, exit 0. A second signal
 * closes the remaining connections at once.
 * `--version` prints the package version; `healthcheck` asks a running server's
 * /ready (probe-command.ts). `check` runs the integrity check instead (check-command.ts), `gc` a garbage
 * collection (gc-command.ts), `usage` prints the storage per repository. The file's upkeep sections (gc, …) configure
 * the background collection (server/upkeep-config.ts).
 * With --config FILE / FERRO_OCI_CONFIG, the file's `auth` section enables
 * access control (src/auth); its errors (and htpasswd or key file errors) are
 * bad configuration. Credentials are redacted from the logs (auth/redact.ts).
 * Exit codes: 0 clean stop, --help or --version, 1 startup or runtime failure, 2 bad configuration.
 */
import { mkdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { BlobStore } from '../storage/blob/types.js';
import type { MetadataStore } from '../storage/meta/types.js';
import { MemoryBlobStore } from '../storage/blob/memory.js';
import { openFilesystemBlobStore } from '../storage/blob/filesystem.js';
import { MemoryMetadataStore } from '../storage/meta/memory/index.js';
import { openSqliteMetadataStore } from '../storage/meta/sqlite/index.js';
import { createOperationsServer, createRegistryServer } from './app.js';
import { runCheckCommand } from './check-command.js';
import { runGcCommand } from './gc-command.js';
import { runUsageCommand } from './usage-command.js';
import { packageVersion, runHealthcheckCommand } from './probe-command.js';
import { AuthConfigError, parseConfigFile } from '../auth/config.js';
import { HtpasswdError } from '../auth/htpasswd.js';
import { KeyFileError } from '../auth/keys.js';
import { loadAuth, type LoadedAuth } from '../auth/load.js';
import { authLogOptions } from '../auth/redact.js';
import { ConfigError, parseConfig, redactUrl, type ServerConfig } from './config.js';
import type { UpkeepConfig } from './upkeep-config.js';

interface Stores {
  readonly blobStore: BlobStore;
  readonly metadataStore: MetadataStore;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Opens the stores of `config`, checked for health; closes whatever it opened
 * when it fails. Blobs: S3 when `s3` is set, else DIR/blobs, else memory.
 * Metadata: PostgreSQL when `metadataUrl` is set, else DIR/metadata.db, else
 * memory (parseConfig refuses durable metadata with memory blobs and the reverse).
 * The S3 and PostgreSQL modules are imported only when asked for.
 */
async function openStores(config: ServerConfig, log: Logger): Promise<Stores> {
  if (config.storageDir === undefined && config.s3 === undefined && config.metadataUrl === undefined) {
    log.warn({ storage: 'memory' }, 'storage is in memory: data will be lost on exit (set FERRO_OCI_STORAGE_DIR or --storage-dir)');
    return { blobStore: new MemoryBlobStore(), metadataStore: new MemoryMetadataStore() };
  }
  const dir = config.storageDir === undefined ? undefined : resolve(config.storageDir);
  const fail = (what: string, err: unknown) => new Error(`cannot use ${what}: ${messageOf(err)}`, { cause: err });
  if (dir !== undefined && (config.s3 === undefined || config.metadataUrl === undefined)) {
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw fail(`storage directory ${dir}: cannot create it`, err);
    }
  }
  const opened: { blobStore?: BlobStore; metadataStore?: MetadataStore } = {};
  const fields: Record<string, string> = {};
  try {
    let blobStore: BlobStore;
    const s3 = config.s3;
    if (s3 !== undefined) {
      const where = `S3 bucket ${s3.bucket}${s3.endpoint ? ` at ${s3.endpoint}` : ''}`;
      const { openS3BlobStore } = await import('../s3.js');
      blobStore = await openS3BlobStore({
        bucket: s3.bucket,
        region: s3.region,
        forcePathStyle: s3.forcePathStyle,
        ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
        ...(s3.prefix !== undefined ? { prefix: s3.prefix } : {}),
        ...(s3.credentials !== undefined ? { credentials: s3.credentials } : {}),
      }).catch((err: unknown) => Promise.reject(fail(where, err)));
      opened.blobStore = blobStore;
      await blobStore.checkHealth(AbortSignal.timeout(10_000)).catch((err: unknown) => Promise.reject(fail(where, err)));
      fields.blobs = `s3://${s3.bucket}/${s3.prefix ?? ''}`;
      if (s3.endpoint !== undefined) fields.s3Endpoint = s3.endpoint;
      fields.s3Credentials = s3.credentials ? 'static' : 'default chain';
    } else {
      const blobs = join(dir as string, 'blobs');
      blobStore = await openFilesystemBlobStore(blobs).catch((err: unknown) => Promise.reject(fail(`blob store ${blobs}`, err)));
      opened.blobStore = blobStore;
      await blobStore.checkHealth(AbortSignal.timeout(10_000)).catch((err: unknown) => Promise.reject(fail(`blob store ${blobs}`, err)));
      fields.blobs = blobs;
    }
    let metadataStore: MetadataStore;
    if (config.metadataUrl !== undefined) {
      const where = `PostgreSQL ${redactUrl(config.metadataUrl)}`;
      const { openPostgresMetadataStore } = await import('../postgres.js');
      metadataStore = await openPostgresMetadataStore({
        connectionString: config.metadataUrl,
        ...(config.metadataSchema !== undefined ? { schema: config.metadataSchema } : {}),
        onIdleError: (err) => log.warn({ err: { message: err.message } }, 'an idle PostgreSQL connection failed; the next query reconnects'),
      }).catch((err: unknown) => Promise.reject(fail(where, err)));
      opened.metadataStore = metadataStore;
      await metadataStore.checkHealth(AbortSignal.timeout(10_000)).catch((err: unknown) => Promise.reject(fail(where, err)));
      fields.metadata = redactUrl(config.metadataUrl);
      if (config.metadataSchema !== undefined) fields.schema = config.metadataSchema;
    } else {
      const file = join(dir as string, 'metadata.db');
      try {
        metadataStore = openSqliteMetadataStore(file);
      } catch (err) {
        throw fail(`metadata database ${file}`, err);
      }
      opened.metadataStore = metadataStore;
      await metadataStore.checkHealth(AbortSignal.timeout(10_000)).catch((err: unknown) => Promise.reject(fail(`metadata database ${file}`, err)));
      fields.metadata = file;
    }
    log.info({ storage: s3 ? 's3' : 'filesystem', ...fields }, 'storage opened');
    return { blobStore, metadataStore };
  } catch (err) {
    await Promise.allSettled([opened.blobStore?.close(), opened.metadataStore?.close()]);
    throw err;
  }
}

function listeningFields(app: FastifyInstance): { address: string; port: number; family: string; url: string } {
  const info = app.server.address() as AddressInfo;
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  return { address: info.address, port: info.port, family: info.family, url: `http://${host}:${info.port}` };
}

async function closeStores(stores: Stores, log: Logger): Promise<void> {
  const results = await Promise.allSettled([stores.blobStore.close(), stores.metadataStore.close()]);
  for (const r of results) if (r.status === 'rejected') log.error({ err: r.reason }, 'closing a store failed');
}

/** Stops `app` gracefully within `timeoutMs`, then closes the stores. Resolves when done. */
async function shutdown(app: FastifyInstance, operations: FastifyInstance | undefined, stores: Stores, timeoutMs: number, log: Logger, state: { force?: () => void }): Promise<void> {
  const forceClose = () => app.server.closeAllConnections();
  state.force = forceClose;
  const timer = setTimeout(() => {
    log.warn({ timeoutMs }, 'shutdown timeout reached: closing the remaining connections');
    forceClose();
  }, timeoutMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
  await operations?.close();
  await closeStores(stores, log);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
    process.stdout.write(`${await packageVersion()}\n`);
    return 0;
  }
  if (argv[0] === 'healthcheck') return runHealthcheckCommand(argv.slice(1), process.env, process.stdout, process.stderr);
  let command;
  try {
    command = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferro-oci-server: ${err.message}\nRun ferro-oci-server --help for the options.\n`);
      return err.exitCode;
    }
    throw err;
  }
  if (command.kind === 'help') {
    process.stdout.write(command.usage);
    return 0;
  }
  if (command.kind === 'check') return runCheckCommand(command.storageDir, process.stdout, process.stderr);
  if (command.kind === 'gc') return runGcCommand(command.config, process.stdout, process.stderr);
  if (command.kind === 'usage') return runUsageCommand(command, process.stdout, process.stderr);
  const config = command.config;
  const log = pino({ level: config.logLevel, ...authLogOptions });

  // The configuration file and what it names (htpasswd, keys) are read before anything is opened.
  let auth: LoadedAuth | undefined;
  let upkeep: UpkeepConfig = {};
  try {
    if (config.configFile !== undefined) {
      const file = resolve(config.configFile);
      const text = await readFile(file, 'utf8').catch((err: unknown) => Promise.reject(new AuthConfigError(`cannot read configuration file ${file}: ${messageOf(err)}`)));
      const settings = parseConfigFile(text, file);
      if (settings.auth) auth = await loadAuth(settings.auth, { trustedProxies: config.trustedProxies ?? [] });
      upkeep = settings.upkeep ?? {};
      for (const n of auth?.notices ?? []) log[n.level](n.fields, n.msg);
      log.info({ config: file, auth: settings.auth?.mode ?? 'none' }, 'configuration file read');
    }
  } catch (err) {
    if (err instanceof AuthConfigError || err instanceof HtpasswdError || err instanceof KeyFileError) {
      process.stderr.write(`ferro-oci-server: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  process.on('uncaughtException', (err) => {
    log.fatal({ err }, `uncaught exception: ${messageOf(err)}`);
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, `unhandled rejection: ${messageOf(err)}`);
    process.exit(1);
  });

  let stores: Stores | undefined;
  let app: FastifyInstance | undefined;
  let operations: FastifyInstance | undefined;
  try {
    stores = await openStores(config, log);
    app = await createRegistryServer({
      ...stores,
      logger: log,
      timeouts: { idleMs: config.idleTimeoutMs, headersMs: config.headersTimeoutMs },
      ...(auth?.plugin ? { auth: auth.plugin } : {}),
      ...(config.trustedProxies ? { trustedProxies: config.trustedProxies } : {}),
      // With auth on, repository-labelled series stay off the main listener unless asked for (they name private repositories).
      metrics: config.metricsListen ? { route: false } : config.publicRepositoryMetrics ? { repositoryUsage: {} } : {},
      gc: {
        ...(upkeep.gc?.intervalMs !== undefined ? { intervalMs: upkeep.gc.intervalMs } : {}),
        ...(upkeep.gc?.graceMs !== undefined ? { graceMs: upkeep.gc.graceMs } : {}),
      },
      ...(upkeep.storagePolicy ? { storagePolicy: upkeep.storagePolicy } : {}),
      ...(config.s3?.redirect ? { redirectBlobGets: true } : {}),
      // A shared blob store may hold another replica's upload in flight: only old orphans go at start.
      ...(config.s3 ? { startupOrphanAgeMs: 60 * 60 * 1000 } : {}),
    });
    await app.listen({ host: config.host, port: config.port });
    if (config.metricsListen) {
      operations = await createOperationsServer(app, { logger: log });
      await operations.listen({ host: config.metricsListen.host, port: config.metricsListen.port });
    }
  } catch (err) {
    log.fatal({ err }, `startup failed: ${messageOf(err)}`);
    await operations?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    if (stores) await closeStores(stores, log);
    return 1;
  }
  log.info(listeningFields(app), 'listening');
  if (operations) log.info(listeningFields(operations), 'metrics listening');

  const running = app;
  const opened = stores;
  return new Promise<number>((resolveExit) => {
    const state: { force?: () => void } = {};
    const onSignal = (signal: NodeJS.Signals) => {
      if (state.force) {
        log.warn({ signal }, 'second signal: closing the remaining connections now');
        state.force();
        return;
      }
      log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
      shutdown(running, operations, opened, config.shutdownTimeoutMs, log, state).then(
        () => {
          log.info('stopped');
          resolveExit(0);
        },
        (err: unknown) => {
          log.error({ err }, `shutdown failed: ${messageOf(err)}`);
          resolveExit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ferro-oci-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
