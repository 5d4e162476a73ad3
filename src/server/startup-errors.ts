/**
 * Why `serve` could not start, in one line naming the problem and what to do
 * (main.ts logs it at fatal; the error with its stack goes to debug only).
 * Covers the listen addresses (ListenError), the storage directory, PostgreSQL
 * and S3 (StoreOpenError from stores.ts); anything else keeps its own message.
 */
import { mkdtemp, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ServerConfig } from './config.js';
import { redactUrl } from './config.js';
import { StoreOpenError } from './stores.js';

/** Binding a listen address failed; `setting` names the flag and variable that chose it. */
export class ListenError extends Error {
  constructor(readonly address: string, readonly setting: string, cause: unknown) {
    super(`cannot listen on ${address}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ListenError';
  }
}

/** `host:port` as a client would write it ([v6]:port). */
export function addressOf(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

interface ErrorFacts {
  readonly code?: unknown;
  readonly name?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

/** `err` and its causes (and the errors of an AggregateError), outermost first. */
function chain(err: unknown): ErrorFacts[] {
  const out: ErrorFacts[] = [];
  const visit = (e: unknown, depth: number) => {
    if (e === null || typeof e !== 'object' || depth > 8) return;
    out.push(e as ErrorFacts);
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1);
    visit((e as { cause?: unknown }).cause, depth + 1);
  };
  visit(err, 0);
  return out;
}

const codeIn = (facts: ErrorFacts[], codes: readonly string[]): string | undefined =>
  facts.map((f) => f.code).find((c): c is string => typeof c === 'string' && codes.includes(c));

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const UNREACHABLE = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'];
const S3_REFUSED = ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'InvalidToken', 'ExpiredToken'];

function listenProblem(err: ListenError): string {
  const pick = `pick another address with ${err.setting}`;
  const code = codeIn(chain(err), ['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']);
  if (code === 'EADDRINUSE') return `${err.address} is already in use (another process listens there): stop it, or ${pick}`;
  if (code === 'EACCES') return `not allowed to listen on ${err.address} (ports below 1024 need root or CAP_NET_BIND_SERVICE): ${pick}`;
  if (code === 'EADDRNOTAVAIL') return `cannot listen on ${err.address}: the address is not one of this machine's: ${pick}`;
  return `${err.message}; ${pick}`;
}

/**
 * Why nothing can be created at `path`: the error code of making a directory
 * in its nearest existing ancestor (EROFS, EACCES, …), or undefined when that
 * works. Node's recursive mkdir reports ENOENT on a read-only file system, so
 * the original code does not tell.
 */
async function probeWritable(path: string): Promise<string | undefined> {
  for (let dir = dirname(path), depth = 0; depth < 64; dir = dirname(dir), depth++) {
    try {
      await rmdir(await mkdtemp(join(dir, '.ferro-oci-probe-')));
      return undefined;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 'ENOENT' || dir === dirname(dir)) return typeof code === 'string' ? code : undefined;
    }
  }
  return undefined;
}

async function directoryProblem(err: StoreOpenError, facts: ErrorFacts[]): Promise<string> {
  const path = err.path ?? '(storage directory)';
  const other = 'or pick another directory with --storage-dir or FERRO_OCI_STORAGE_DIR';
  const codes = ['EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EEXIST', 'ENOSPC', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_FULL'];
  let code = codeIn(facts, codes);
  if (code === undefined || ['EACCES', 'EPERM', 'SQLITE_READONLY', 'SQLITE_CANTOPEN'].includes(code)) code = (await probeWritable(path)) ?? code;
  if (code === 'EROFS' || code === 'SQLITE_READONLY') return `storage ${path} is on a read-only file system: mount it read-write, ${other}`;
  if (code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_CANTOPEN') {
    const uid = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    return `storage ${path} is not writable by this process${uid}: give it write permission (chown/chmod), ${other}`;
  }
  if (code === 'ENOTDIR' || code === 'EEXIST') return `storage ${path} is not a directory (a file is in the way): move the file, ${other}`;
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') return `storage ${path} is on a full disk: free space, ${other}`;
  return `${err.message}; check --storage-dir or FERRO_OCI_STORAGE_DIR`;
}

function postgresProblem(err: StoreOpenError, facts: ErrorFacts[], config: ServerConfig): string {
  const where = `PostgreSQL ${config.metadataUrl !== undefined ? redactUrl(config.metadataUrl) : ''}`.trim();
  const setting = 'check --metadata-url or FERRO_OCI_METADATA_URL';
  const unreachable = codeIn(facts, UNREACHABLE);
  if (unreachable === 'ENOTFOUND' || unreachable === 'EAI_AGAIN') return `${where}: the host name does not resolve: ${setting}`;
  if (unreachable !== undefined) return `${where} cannot be reached (${unreachable}): is PostgreSQL running and listening there? ${setting}`;
  const sqlState = codeIn(facts, ['28P01', '28000', '3D000', '42501']);
  if (sqlState === '28P01' || sqlState === '28000') return `${where} refused the user name or password: ${setting}`;
  if (sqlState === '3D000') return `${where}: the database does not exist: create it (createdb) or ${setting}`;
  if (sqlState === '42501') return `${where}: the user may not create the registry's tables (permission denied): grant it CREATE on the schema, or create the tables as an owner`;
  return `${err.message}; ${setting}`;
}

function s3Problem(err: StoreOpenError, facts: ErrorFacts[], config: ServerConfig): string {
  const s3 = config.s3;
  const bucket = s3?.bucket ?? '(bucket)';
  const at = s3?.endpoint !== undefined ? ` at ${s3.endpoint}` : ` in AWS region ${s3?.region ?? 'us-east-1'}`;
  if (facts.some((f) => f.name === 'S3BucketMissingError' || f.name === 'NoSuchBucket')) {
    const endpoint = s3?.endpoint !== undefined ? ` --endpoint-url ${s3.endpoint}` : ` --region ${s3?.region ?? 'us-east-1'}`;
    return (
      `S3 bucket ${bucket} does not exist${at}: create it (e.g. aws s3 mb s3://${bucket}${endpoint}), ` +
      'or let the server create it with --s3-create-bucket true (FERRO_OCI_S3_CREATE_BUCKET=true)'
    );
  }
  const refused = facts.find((f) => (typeof f.name === 'string' && S3_REFUSED.includes(f.name)) || f.$metadata?.httpStatusCode === 403);
  if (refused !== undefined) {
    const keys = s3?.credentials ? 'FERRO_OCI_S3_ACCESS_KEY and FERRO_OCI_S3_SECRET_KEY' : "the AWS SDK's default credentials";
    const why = typeof refused.name === 'string' && S3_REFUSED.includes(refused.name) ? refused.name : 'HTTP 403';
    return `S3${at} refused the credentials (${why}) for bucket ${bucket}: check ${keys}, and that they may read and write the bucket`;
  }
  const unreachable = codeIn(facts, UNREACHABLE);
  if (unreachable !== undefined) return `S3${at} cannot be reached (${unreachable}): is it running? check --s3-endpoint or FERRO_OCI_S3_ENDPOINT`;
  return `${err.message}; check the --s3-* settings (FERRO_OCI_S3_*)`;
}

/** The one-line explanation of a startup failure of `serve` with `config` (it may probe the storage directory). */
export async function explainStartupFailure(err: unknown, config: ServerConfig): Promise<string> {
  if (err instanceof ListenError) return listenProblem(err);
  if (err instanceof StoreOpenError) {
    const facts = chain(err);
    if (err.store === 'postgres') return postgresProblem(err, facts, config);
    if (err.store === 's3') return s3Problem(err, facts, config);
    return directoryProblem(err, facts);
  }
  return messageOf(err);
}
