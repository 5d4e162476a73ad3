/**
 * The `audit` section of the server's configuration file (README "Events and
 * audit"), validated strictly: unknown keys and wrong types are errors naming
 * the key. Applied at start (a reload that changes it asks for a restart).
 *
 *   audit:
 *     sink: stdout                  # or a file path (JSON lines, appended; reopened on SIGHUP); default none
 *     database: true                # also keep the records in the metadata store (GET /admin/audit); default false
 *     retentionDays: 90             # database records older than this are pruned (default 90)
 *     queueSize: 10000              # records waiting per sink before new ones are dropped (default 10000)
 */
import { isAbsolute, resolve } from 'node:path';

export class AuditConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditConfigError';
  }
}

export interface AuditConfig {
  /** 'stdout', or an absolute file path. */
  readonly sink?: 'stdout' | { readonly file: string };
  readonly database: boolean;
  readonly retentionMs: number;
  readonly queueSize: number;
}

const KEYS = ['sink', 'database', 'retentionDays', 'queueSize'];

function fail(at: string, why: string): never {
  throw new AuditConfigError(`${at}: ${why}`);
}

/** Validates the `audit` section (`raw`: its value); a relative file path is taken from `baseDir` (the file's directory). */
export function parseAuditConfig(raw: unknown, baseDir: string): AuditConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('audit', 'must be a mapping');
  const a = raw as Record<string, unknown>;
  for (const k of Object.keys(a)) if (!KEYS.includes(k)) fail(`audit.${k}`, `unknown setting; expected one of ${KEYS.join(', ')}`);
  if (a.sink !== undefined && (typeof a.sink !== 'string' || a.sink === '')) fail('audit.sink', 'must be stdout or a file path');
  if (a.database !== undefined && typeof a.database !== 'boolean') fail('audit.database', 'must be true or false');
  const days = a.retentionDays ?? 90;
  if (typeof days !== 'number' || !(days > 0 && days <= 36_500)) fail('audit.retentionDays', 'must be a number of days above 0 and at most 36500');
  const queueSize = a.queueSize ?? 10_000;
  if (typeof queueSize !== 'number' || !Number.isInteger(queueSize) || queueSize < 1 || queueSize > 1_000_000) fail('audit.queueSize', 'must be an integer from 1 to 1000000');
  const sink = a.sink === undefined ? undefined : a.sink === 'stdout' ? 'stdout' : { file: isAbsolute(a.sink as string) ? (a.sink as string) : resolve(baseDir, a.sink as string) };
  if (sink === undefined && a.database !== true) fail('audit', 'names no sink: set sink (stdout or a file path) or database: true');
  return { ...(sink !== undefined ? { sink } : {}), database: a.database === true, retentionMs: Math.round(days * 86_400_000), queueSize };
}
