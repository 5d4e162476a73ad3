/**
 * The storage upkeep sections of the server's configuration file (YAML or
 * JSON; see README "Garbage collection and retention"), validated strictly:
 * unknown keys and wrong types are errors naming the key.
 *
 *   gc:
 *     intervalSeconds: 3600        # background collection; 0: none (POST /admin/gc and `gc` still work)
 *     graceSeconds: 3600           # blobs unused for less than this are kept
 *     untagged:                    # remove manifests no tag points at (off unless a rule matches)
 *       - repositories: ["ci/**"]
 *         olderThanSeconds: 86400  # default graceSeconds
 *         orphanReferrers: true    # also referrers whose subject is gone (default true)
 *   retention:                     # the first matching rule applies
 *     - repositories: ["apps/**"]
 *       keepLast: 10               # and/or keepWithinDays / keepWithinSeconds; a tag either keeps is kept
 *       keepWithinDays: 30
 *       exceptTags: ["latest", "v*"]
 *   immutableTags:
 *     - repositories: ["releases/**"]
 *       tags: ["v*"]               # default: every tag
 */
import { RepositoryPattern } from '../oci/patterns.js';
import { TagPattern, type ImmutableTagRule, type PolicyRules, type RetentionRule, type UntaggedRule } from '../services/policy.js';

export class UpkeepConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpkeepConfigError';
  }
}

export interface GcSettings {
  readonly intervalMs?: number;
  readonly graceMs?: number;
}

export interface UpkeepConfig {
  readonly gc?: GcSettings;
  /** Untagged, retention and immutable-tag rules; absent when the file has none. */
  readonly storagePolicy?: PolicyRules;
}

/** The top-level keys of the configuration file this module owns. */
export const UPKEEP_SECTIONS = ['gc', 'retention', 'immutableTags'] as const;

type Obj = Record<string, unknown>;

function fail(at: string, why: string): never {
  throw new UpkeepConfigError(`${at}: ${why}`);
}

function mapping(value: unknown, at: string, keys: readonly string[]): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'must be a mapping');
  for (const k of Object.keys(value)) if (!keys.includes(k)) fail(`${at}.${k}`, `unknown setting; expected one of ${keys.join(', ')}`);
  return value as Obj;
}

/** A number of seconds from 0 to `max`, as milliseconds; undefined when absent. */
function seconds(value: unknown, at: string, max = 366 * 86_400, unit = 1): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) fail(at, `must be a number of ${unit === 1 ? 'seconds' : 'days'} from 0 to ${max}`);
  return Math.round(value * unit * 1000);
}

function list(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) fail(at, 'must be a list');
  return value;
}

/** A non-empty list of patterns, each compiled by `compile` to validate it. */
function patterns(value: unknown, at: string, compile: (p: string) => unknown): string[] {
  const items = list(value, at);
  if (items.length === 0) fail(at, 'must list at least one pattern');
  for (const p of items) {
    if (typeof p !== 'string') fail(at, 'must be a list of strings');
    try {
      compile(p);
    } catch (err) {
      fail(at, (err as Error).message);
    }
  }
  return items as string[];
}

const repositories = (value: unknown, at: string) => patterns(value ?? fail(at, 'is required'), at, (p) => RepositoryPattern.compile(p));
const tags = (value: unknown, at: string) => patterns(value, at, (p) => TagPattern.compile(p));

function untaggedRule(raw: unknown, at: string): UntaggedRule {
  const r = mapping(raw, at, ['repositories', 'olderThanSeconds', 'orphanReferrers']);
  const olderThanMs = seconds(r.olderThanSeconds, `${at}.olderThanSeconds`);
  if (r.orphanReferrers !== undefined && typeof r.orphanReferrers !== 'boolean') fail(`${at}.orphanReferrers`, 'must be true or false');
  return {
    repositories: repositories(r.repositories, `${at}.repositories`),
    ...(olderThanMs !== undefined ? { olderThanMs } : {}),
    ...(r.orphanReferrers !== undefined ? { orphanReferrers: r.orphanReferrers } : {}),
  };
}

function retentionRule(raw: unknown, at: string): RetentionRule {
  const r = mapping(raw, at, ['repositories', 'keepLast', 'keepWithinDays', 'keepWithinSeconds', 'exceptTags']);
  if (r.keepLast !== undefined && !(typeof r.keepLast === 'number' && Number.isInteger(r.keepLast) && r.keepLast >= 0 && r.keepLast <= 1_000_000)) {
    fail(`${at}.keepLast`, 'must be an integer from 0 to 1000000');
  }
  if (r.keepWithinDays !== undefined && r.keepWithinSeconds !== undefined) fail(at, 'give keepWithinDays or keepWithinSeconds, not both');
  const keepWithinMs = seconds(r.keepWithinDays, `${at}.keepWithinDays`, 36_600, 86_400) ?? seconds(r.keepWithinSeconds, `${at}.keepWithinSeconds`, 100 * 366 * 86_400);
  if (r.keepLast === undefined && keepWithinMs === undefined) fail(at, 'needs keepLast, keepWithinDays or keepWithinSeconds');
  return {
    repositories: repositories(r.repositories, `${at}.repositories`),
    ...(r.keepLast !== undefined ? { keepLast: r.keepLast as number } : {}),
    ...(keepWithinMs !== undefined ? { keepWithinMs } : {}),
    ...(r.exceptTags !== undefined ? { exceptTags: tags(r.exceptTags, `${at}.exceptTags`) } : {}),
  };
}

function immutableRule(raw: unknown, at: string): ImmutableTagRule {
  const r = mapping(raw, at, ['repositories', 'tags']);
  return { repositories: repositories(r.repositories, `${at}.repositories`), ...(r.tags !== undefined ? { tags: tags(r.tags, `${at}.tags`) } : {}) };
}

/** Validates the upkeep sections of a parsed configuration file (`top` is its top-level mapping). */
export function parseUpkeepConfig(top: Obj): UpkeepConfig {
  let gc: GcSettings | undefined;
  let untagged: UntaggedRule[] | undefined;
  if (top.gc !== undefined) {
    const g = mapping(top.gc, 'gc', ['intervalSeconds', 'graceSeconds', 'untagged']);
    const intervalMs = seconds(g.intervalSeconds, 'gc.intervalSeconds');
    const graceMs = seconds(g.graceSeconds, 'gc.graceSeconds');
    gc = { ...(intervalMs !== undefined ? { intervalMs } : {}), ...(graceMs !== undefined ? { graceMs } : {}) };
    if (g.untagged !== undefined) untagged = list(g.untagged, 'gc.untagged').map((r, i) => untaggedRule(r, `gc.untagged[${i}]`));
  }
  const retention = top.retention === undefined ? undefined : list(top.retention, 'retention').map((r, i) => retentionRule(r, `retention[${i}]`));
  const immutableTags = top.immutableTags === undefined ? undefined : list(top.immutableTags, 'immutableTags').map((r, i) => immutableRule(r, `immutableTags[${i}]`));
  const storagePolicy: PolicyRules = { ...(untagged ? { untagged } : {}), ...(retention ? { retention } : {}), ...(immutableTags ? { immutableTags } : {}) };
  return { ...(gc ? { gc } : {}), ...(Object.keys(storagePolicy).length > 0 ? { storagePolicy } : {}) };
}
