/**
 * The binary's logger: JSON lines (pino), or pino-pretty's format for people
 * (`--log-format pretty`), where an access line (access-log.ts) reads
 * `GET /v2/a/manifests/x 200 3.1 ms 512 B sent user=alice reqId=…`.
 */
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { authLogOptions } from '../auth/redact.js';
import { ACCESS_FIELDS, ACCESS_MSG } from './access-log.js';
import type { LogFormat } from './config.js';

const isAccessLine = (log: object): boolean => (log as { msg?: unknown }).msg === ACCESS_MSG;

/** The message of an access line in the pretty format. */
function accessSummary(log: Record<string, unknown>): string {
  const parts = [String(log.method), String(log.path), log.status === undefined ? '-' : String(log.status), `${String(log.durationMs)} ms`];
  parts.push(`${String(log.bytesSent)} B sent`);
  if (typeof log.bytesReceived === 'number' && log.bytesReceived > 0) parts.push(`${log.bytesReceived} B received`);
  if (log.aborted === true) parts.push('ABORTED');
  for (const key of ['error', 'user', 'repository', 'reqId', 'traceId'] as const) if (log[key] !== undefined) parts.push(`${key}=${String(log[key])}`);
  return parts.join(' ');
}

/** The binary's logger at `level`, with credentials redacted (auth/redact.ts); `pretty` writes pino-pretty's format to stdout. */
export function createLogger(level: string, format: LogFormat = 'json'): Logger {
  const options = { level, ...authLogOptions };
  if (format === 'json') return pino(options);
  // An access field is shown in the message line; on other lines it is printed as pino-pretty would.
  const hideOnAccess = (value: string | object, _key: string, log: object): string =>
    (isAccessLine(log) ? undefined : JSON.stringify(value, null, 2)) as string;
  const stream = pretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
    messageFormat: (log, messageKey) => (isAccessLine(log) ? accessSummary(log) : String(log[messageKey] ?? '')),
    customPrettifiers: Object.fromEntries([...ACCESS_FIELDS, 'reqId', 'traceId'].map((k) => [k, hideOnAccess])),
  });
  return pino(options, stream);
}

/**
 * Listens on host:port after `app` is ready. Fastify's listen() would log a
 * "Server listening at" line of its own per address; the caller logs one.
 * Rejects with the socket error (e.g. EADDRINUSE).
 */
export async function listenQuietly(app: FastifyInstance, host: string, port: number): Promise<void> {
  await app.ready();
  await new Promise<void>((resolve, reject) => {
    const server = app.server;
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
}
