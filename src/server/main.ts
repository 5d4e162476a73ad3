#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * The ferro-oci-server binary. Configuration: see config.ts or --help.
 * The #! line caps V8's young generation at 2 × 4 MiB (the default grows to 32 MiB under load):
 * about 15–25 MiB less peak RSS at the same CPU per request (docs/benchmarks.md, issue 20).
 * `node dist/src/server/main.js` without the flag runs uncapped; NODE_OPTIONS can set it too.
 *
 * Logs JSON lines (pino) to stdout, or pino-pretty's format with --log-format
 * pretty (logging.ts), and one access line per request (access-log.ts). Once
 * listening it logs exactly one line with msg "listening" and the bound
 * `address`, `port`, `family` and `url`. A startup failure is one fatal line
 * naming the problem and what to do (startup-errors.ts), exit 1.
 * On SIGTERM/SIGINT: /ready turns 503, no new connections are accepted,
 * in-flight requests get the shutdown timeout to finish (then their
 * connections are closed), the stores are closed, exit 0. A second signal
 * closes the remaining connections at once.
 * `--version` prints the package version; `healthcheck` asks a running server's
 * /ready (probe-command.ts). `check` runs the integrity check instead (check-command.ts), `gc` a garbage
 * collection (gc-command.ts), `usage` prints the storage per repository; all three
 * open their stores with the server's settings through stores.ts. `config check FILE`
 * prints the effective configuration (config-command.ts).
 * Every setting (flags, FERRO_OCI_* variables, the configuration file, defaults)
 * comes from the configuration module (config.ts); mistakes it finds that do not
 * stop the server are logged once at warn. The auth section enables access
 * control (src/auth), its `mirrors` section the pull-through cache (mirror-config.ts);
 * htpasswd or key file errors are bad configuration.
 * Credentials are redacted from the logs (auth/redact.ts).
 * SIGHUP, or a change of the configuration or htpasswd file, reloads users,
 * rules, collection and retention settings without a restart (reload.ts).
 * With a tracing endpoint (config-tracing.ts), requests, store calls and
 * upstream calls are spans (tracing.ts); spans still queued are exported on stop.
 * Exit codes: 0 clean stop, --help or --version, 1 startup or runtime failure, 2 bad configuration.
 */
import { EventDelivery } from '../services/events/delivery.js';
import type { EventsConfig } from './events-config.js';
import type { AuditConfig } from './audit-config.js';
import { AuditRecorder, type AuditSink } from '../services/audit/recorder.js';
import { databaseSink, FileSink, stdoutSink } from '../services/audit/sinks.js';
import { auditMetrics } from './audit-metrics.js';
import { eventMetrics } from './event-metrics.js';
import type { MetadataStore } from '../storage/meta/types.js';
import { failureLogFields } from '../http/error-handler.js';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import prom from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { createOperationsServer, createRegistryServer } from './app.js';
import { runCheckCommand } from './check-command.js';
import { runGcCommand } from './gc-command.js';
import { runUsageCommand } from './usage-command.js';
import { runEventsCommand } from './events-command.js';
import { packageVersion, runHealthcheckCommand } from './probe-command.js';
import { HtpasswdError } from '../auth/htpasswd.js';
import { KeyFileError } from '../auth/keys.js';
import { loadAuth, type LoadedAuth } from '../auth/load.js';
import { ConfigError, parseConfig, redactUrl, serverConfig, type ServerConfig } from './config.js';
import { configWarnings, runConfigCheck } from './config-command.js';
import { closeStores, inMemory, openStores, type Stores } from './stores.js';
import { readFile } from 'node:fs/promises';
import { Live } from '../live.js';
import { configReloadMetrics } from './metrics.js';
import { ConfigReloader, gcOptionsOf } from './reload.js';
import { createLogger, listenQuietly } from './logging.js';
import { addressOf, explainStartupFailure, ListenError } from './startup-errors.js';
import { startTracing, type Tracing } from './tracing.js';

/** What a reload compares and applies: everything but the start-time warnings. */
function reloadable(config: ServerConfig): Omit<ServerConfig, 'warnings'> {
  const { warnings: _warnings, ...settings } = config;
  return settings;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function listeningFields(app: FastifyInstance): { address: string; port: number; family: string; url: string } {
  const info = app.server.address() as AddressInfo;
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  return { address: info.address, port: info.port, family: info.family, url: `http://${host}:${info.port}` };
}

async function closeAndLog(stores: Stores, log: Logger): Promise<void> {
  for (const err of await closeStores(stores)) log.error({ err }, 'closing a store failed');
}

/** Stops `app` gracefully within `timeoutMs`, then closes the stores. Resolves when done. */
async function shutdown(app: FastifyInstance, operations: FastifyInstance | undefined, stores: Stores, tracing: Tracing | undefined, timeoutMs: number, log: Logger, state: { force?: () => void }): Promise<void> {
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
  await closeAndLog(stores, log);
  await stopTracing(tracing, log);
}

/** Exports the spans still queued (tracing.ts bounds the wait). */
async function stopTracing(tracing: Tracing | undefined, log: Logger): Promise<void> {
  await tracing?.shutdown().catch((err: unknown) => log.warn({ err: { message: messageOf(err) } }, 'stopping tracing failed'));
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
  if (command.kind === 'check') return runCheckCommand(command.storage, process.stdout, process.stderr);
  if (command.kind === 'gc') return runGcCommand(command.config, process.stdout, process.stderr);
  if (command.kind === 'usage') return runUsageCommand(command, process.stdout, process.stderr);
  if (command.kind === 'config-check') return runConfigCheck(command, process.stdout, process.stderr);
  if (command.kind === 'events') return runEventsCommand(command, process.stdout, process.stderr);
  const config = command.config;
  const log = createLogger(config.logLevel, config.logFormat);

  // What the auth settings name (htpasswd, keys) is read before anything is opened.
  let auth: LoadedAuth | undefined;
  try {
    if (config.auth) auth = await loadAuth(config.auth, { trustedProxies: config.trustedProxies ?? [] });
    for (const n of auth?.notices ?? []) log[n.level](n.fields, n.msg);
    if (config.configFile !== undefined) log.info({ config: config.configFile, auth: config.auth?.mode ?? 'none' }, 'configuration file read');
    for (const warning of configWarnings(config, auth?.live?.users?.current)) log.warn({ config: config.configFile }, warning);
  } catch (err) {
    if (err instanceof HtpasswdError || err instanceof KeyFileError) {
      process.stderr.write(`ferro-oci-server: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  // What a reload may replace while the server runs (reload.ts); SIGHUP reloads from here on,
  // with the configuration loaded again as at start (same arguments and environment).
  const targets = { ...(auth?.live ? { auth: auth.live } : {}), gc: new Live(gcOptionsOf(config)), storagePolicy: new Live(config.upkeep.storagePolicy ?? {}) };
  const register = new prom.Registry();
  const file = config.configFile;
  const source = file && { file, text: await readFile(file, 'utf8').catch(() => ''), settings: reloadable(config), load: async () => reloadable(serverConfig(argv, process.env)) };
  const reloader = source ? await ConfigReloader.create(source, targets, log, configReloadMetrics(register)) : undefined;
  const hangup: { audit?: AuditRecorder } = {};
  const onHangup = () => {
    hangup.audit?.reopen();
    if (reloader) void reloader.reload('SIGHUP');
    else log.info('SIGHUP: no configuration file to reload');
  };
  process.on('SIGHUP', onHangup);
  reloader?.watch();

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
  let tracing: Tracing | undefined;
  try {
    const traces = config.tracing;
    if (traces) {
      tracing = await startTracing(traces, {
        version: await packageVersion(),
        onExportError: (err) => log.warn({ endpoint: redactUrl(traces.endpoint), error: err?.message ?? 'unknown' }, 'exporting spans failed (the next failure is logged a minute later at the earliest)'),
      });
      log.info({ endpoint: redactUrl(traces.endpoint), sampleRatio: traces.sampleRatio }, 'tracing on');
    }
    if (inMemory(config)) log.warn({ storage: 'memory' }, 'storage is in memory: data will be lost on exit (set FERRO_OCI_STORAGE_DIR or --storage-dir)');
    stores = await openStores(config, {
      create: true,
      ...(tracing ? { tracing: tracing.stores } : {}),
      onIdleError: (err) => log.warn({ err: { message: err.message } }, 'an idle PostgreSQL connection failed; the next query reconnects'),
    });
    if (!inMemory(config)) log.info({ storage: config.s3 ? 's3' : 'filesystem', ...stores.where }, 'storage opened');
    const events = eventDeliveryOf(config.events, stores.metadataStore, register, log);
    const audit = (hangup.audit = auditRecorderOf(config.audit, stores.metadataStore, register, log));
    app = await createRegistryServer({
      blobStore: stores.blobStore,
      metadataStore: stores.metadataStore,
      logger: log,
      timeouts: { idleMs: config.idleTimeoutMs, headersMs: config.headersTimeoutMs },
      limits: config.limits,
      ...(auth?.plugin ? { auth: auth.plugin } : {}),
      ...(config.trustedProxies ? { trustedProxies: config.trustedProxies } : {}),
      // With auth on, repository-labelled series stay off the main listener unless asked for (they name private repositories).
      metrics: { register, ...(config.metricsListen ? { route: false } : config.publicRepositoryMetrics ? { repositoryUsage: {} } : {}) },
      gc: targets.gc,
      storagePolicy: targets.storagePolicy,
      ui: config.ui.ui,
      ...(config.ui.cors ? { cors: config.ui.cors } : {}),
      ...(events ? { events } : {}),
      ...(audit ? { audit } : {}),
      ...(config.mirrors !== undefined && config.mirrors.length > 0 ? { mirrors: { upstreams: config.mirrors, ...(tracing ? { around: tracing.upstream } : {}) } } : {}),
      ...(tracing ? { tracing: tracing.requests } : {}),
      ...(config.s3?.redirect ? { redirectBlobGets: true } : {}),
      // A shared blob store may hold another replica's upload in flight: at start, only orphans older than the session TTL go (as in every sweep).
      ...(config.s3 ? { startupOrphanAgeMs: config.limits.uploadSessionTtlMs } : {}),
    });
    const { host, port } = config;
    await listenQuietly(app, host, port).catch((err: unknown) => Promise.reject(new ListenError(addressOf(host, port), '--listen or FERRO_OCI_LISTEN', err)));
    if (config.metricsListen) {
      const at = config.metricsListen;
      operations = await createOperationsServer(app, { logger: log });
      await listenQuietly(operations, at.host, at.port).catch((err: unknown) =>
        Promise.reject(new ListenError(addressOf(at.host, at.port), '--metrics-listen or FERRO_OCI_METRICS_LISTEN', err)),
      );
    }
  } catch (err) {
    // One line saying what to do; the error itself (with its stack) only at debug level.
    log.fatal(`startup failed: ${await explainStartupFailure(err, config)}`);
    log.debug({ err }, 'startup failure details');
    await reloader?.close();
    await operations?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    if (stores) await closeAndLog(stores, log);
    await stopTracing(tracing, log);
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
      process.off('SIGHUP', onHangup);
      Promise.all([reloader?.close(), shutdown(running, operations, opened, tracing, config.shutdownTimeoutMs, log, state)]).then(
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

/** The event delivery of the configuration file's `events` section, with its metrics; none without subscriptions. */
function eventDeliveryOf(settings: EventsConfig | undefined, store: MetadataStore, register: prom.Registry, log: Logger): EventDelivery | undefined {
  if (settings === undefined || settings.subscriptions.length === 0) return undefined;
  const delivery = new EventDelivery({ ...settings, store, onError: (err) => log.warn(failureLogFields(err), 'event delivery failed; retrying') });
  eventMetrics(register, delivery);
  log.info({ subscriptions: settings.subscriptions.map((s) => s.name) }, 'event delivery on');
  return delivery;
}

/** The audit recorder of the configuration file's `audit` section, with its metrics; none without the section. Throws when the file sink cannot be opened. */
function auditRecorderOf(settings: AuditConfig | undefined, store: MetadataStore, register: prom.Registry, log: Logger): AuditRecorder | undefined {
  if (settings === undefined) return undefined;
  const sinks: AuditSink[] = [];
  if (settings.sink === 'stdout') sinks.push(stdoutSink());
  else if (settings.sink !== undefined) sinks.push(new FileSink(settings.sink.file));
  if (settings.database) sinks.push(databaseSink(store));
  const recorder = new AuditRecorder({
    sinks,
    queueSize: settings.queueSize,
    ...(settings.database ? { retention: { store, retentionMs: settings.retentionMs } } : {}),
    onError: (err, what) => log.warn(failureLogFields(err), `${what} failed`),
  });
  auditMetrics(register, recorder);
  log.info({ sinks: sinks.map((s) => s.name), ...(settings.database ? { retentionDays: settings.retentionMs / 86_400_000 } : {}) }, 'audit log on');
  return recorder;
}
