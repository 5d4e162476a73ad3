/**
 * The settings the schema cannot check alone: listen addresses, proxy lists,
 * the PostgreSQL URL, and the storage combination (durable blobs go with
 * durable metadata). Errors are ConfigErrors naming the key and its source.
 */
import { isIPv6 } from 'node:net';
import { dirname, resolve } from 'node:path';
import { TrustedProxies } from '../http/proxy.js';
import { ConfigError, type Sources } from './config-schema.js';
import type { ConfigTree } from './config-tree.js';

/** Where the registry keeps its data: the same settings for serve and every subcommand. */
export interface StorageConfig {
  /** Filesystem blobs and SQLite metadata under this directory; undefined: everything in memory. */
  readonly storageDir: string | undefined;
  /** PostgreSQL metadata store (`postgres://` or `postgresql://` URL); absent: SQLite in storageDir, or memory. */
  readonly metadataUrl?: string;
  /** Schema of the PostgreSQL tables; absent: the store's default (public). */
  readonly metadataSchema?: string;
  /** S3 blob store; absent: filesystem blobs in storageDir, or memory. */
  readonly s3?: S3Settings;
}

/** The S3 blob store settings of the server (storage.s3, FERRO_OCI_S3_*). */
export interface S3Settings {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly prefix?: string;
  readonly forcePathStyle: boolean;
  /** Static keys (environment or file, never flags); absent: the AWS SDK's default credential chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Answer blob GETs with a redirect to a presigned URL (the registry's redirectBlobGets). */
  readonly redirect: boolean;
  /** Create the bucket at start when it is missing (behaviour: the S3 store's opener). */
  readonly createBucket: boolean;
}

/**
 * Parses `host:port`, `[v6]:port`, `:port` (all interfaces) or a bare port.
 * Throws ConfigError naming `source` for anything else.
 */
export function parseListen(value: string, source: string): { host: string; port: number } {
  const bad = (why: string) => new ConfigError(`invalid ${source} ${JSON.stringify(value)}: ${why}`);
  let host: string;
  let portText: string;
  if (/^\d+$/.test(value)) {
    host = '0.0.0.0';
    portText = value;
  } else if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close === -1 || value[close + 1] !== ':') throw bad('expected [ipv6]:port');
    host = value.slice(1, close);
    portText = value.slice(close + 2);
    if (!isIPv6(host)) throw bad(`${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon === -1) throw bad('expected host:port, [ipv6]:port or :port');
    host = value.slice(0, colon) || '0.0.0.0';
    portText = value.slice(colon + 1);
    if (host.includes(':')) throw bad('put an IPv6 address in brackets, e.g. [::1]:8080');
    if (!/^[A-Za-z0-9.\-_]+$/.test(host)) throw bad(`${JSON.stringify(host)} is not a host name or address`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad('the port must be a number from 0 to 65535');
  const port = Number(portText);
  if (port > 65535) throw bad('the port must be a number from 0 to 65535');
  return { host, port };
}

/** The listen address at `key` of the tree; errors name the key and its source. */
export function listenAt(value: string, key: string, sources: Sources): { host: string; port: number } {
  try {
    return parseListen(value, key);
  } catch (err) {
    throw sources.error(key, (err as Error).message.replace(`invalid ${key} `, ''));
  }
}

/** Checks a list of proxy addresses or CIDRs. */
export function checkProxies(list: readonly string[], sources: Sources): void {
  try {
    new TrustedProxies(list);
  } catch (err) {
    throw sources.error('server.trustedProxies', (err as Error).message);
  }
}

/** A postgres:// or postgresql:// URL; the message never repeats the URL (it may hold a password). */
function checkMetadataUrl(value: string, sources: Sources): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw sources.error('storage.metadataUrl', 'not a URL; expected postgres://user:password@host:port/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw sources.error('storage.metadataUrl', `unsupported scheme ${JSON.stringify(url.protocol)}; expected postgres:// or postgresql://`);
  }
}

/** A file's relative path resolved against the file's directory; flags and variables stay as given (the process's directory). */
function pathAt(value: string, key: string, sources: Sources): string {
  return sources.file !== undefined && sources.of(key) === sources.file ? resolve(dirname(sources.file), value) : value;
}

/** The storage settings of a validated tree, checked for a usable combination. `env` gives AWS_REGION. */
export function storageOf(tree: ConfigTree, sources: Sources, env: NodeJS.ProcessEnv): StorageConfig {
  const st = tree.storage;
  const storageDir = st.directory === undefined ? undefined : pathAt(st.directory, 'storage.directory', sources);
  if (st.metadataUrl !== undefined) checkMetadataUrl(st.metadataUrl, sources);
  if (st.metadataSchema !== undefined && st.metadataUrl === undefined) throw sources.error('storage.metadataSchema', 'needs storage.metadataUrl (--metadata-url or FERRO_OCI_METADATA_URL)');
  const s3 = st.s3;
  if (st.metadataUrl !== undefined && s3 === undefined && storageDir === undefined) {
    throw sources.error('storage.metadataUrl', 'PostgreSQL metadata needs durable blobs: set --storage-dir (filesystem) or --s3-bucket (S3) too');
  }
  if (s3 !== undefined && st.metadataUrl === undefined && storageDir === undefined) {
    throw sources.error('storage.s3', 'S3 blobs need durable metadata: set --metadata-url (PostgreSQL) or --storage-dir (SQLite) too');
  }
  if (s3 !== undefined && (s3.accessKeyId === undefined) !== (s3.secretAccessKey === undefined)) {
    throw sources.error('storage.s3', 'set both accessKeyId and secretAccessKey (FERRO_OCI_S3_ACCESS_KEY and FERRO_OCI_S3_SECRET_KEY), or neither (the AWS SDK credential chain)');
  }
  const defaultRegion = env.AWS_REGION !== undefined && env.AWS_REGION !== '' ? env.AWS_REGION : 'us-east-1';
  return {
    storageDir,
    ...(st.metadataUrl !== undefined ? { metadataUrl: st.metadataUrl } : {}),
    ...(st.metadataSchema !== undefined ? { metadataSchema: st.metadataSchema } : {}),
    ...(s3 !== undefined
      ? {
          s3: {
            bucket: s3.bucket,
            region: s3.region ?? defaultRegion,
            ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
            ...(s3.prefix !== undefined ? { prefix: s3.prefix } : {}),
            forcePathStyle: s3.forcePathStyle,
            ...(s3.accessKeyId !== undefined && s3.secretAccessKey !== undefined ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } } : {}),
            redirect: s3.redirect,
            createBucket: s3.createBucket,
          },
        }
      : {}),
  };
}

/** `url` without its password (and query, which may hold one), for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    u.search = '';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
