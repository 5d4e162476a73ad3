/**
 * The storage upkeep sections of the configuration file (see README "Garbage
 * collection and retention"): `gc`, `retention`, `immutableTags`. Their
 * structure is checked by the schema (config-schema.ts); this adds what it
 * cannot check (patterns compile, rules that grant something) and converts
 * seconds and days to milliseconds.
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
import type { Sources } from './config-schema.js';
import type { ConfigTree } from './config-tree.js';

export interface GcSettings {
  readonly intervalMs?: number;
  readonly graceMs?: number;
}

export interface UpkeepConfig {
  readonly gc?: GcSettings;
  /** Untagged, retention and immutable-tag rules; absent when the file has none. */
  readonly storagePolicy?: PolicyRules;
}

type Obj = Record<string, unknown>;

const ms = (seconds: unknown, unit = 1): number | undefined => (typeof seconds === 'number' ? Math.round(seconds * unit * 1000) : undefined);

/** `list` after checking that each pattern compiles. */
function patterns(list: unknown, at: string, compile: (p: string) => unknown, sources: Sources): string[] {
  for (const p of list as string[]) {
    try {
      compile(p);
    } catch (err) {
      throw sources.error(at, (err as Error).message);
    }
  }
  return list as string[];
}

export function parseUpkeep(tree: Pick<ConfigTree, 'gc' | 'retention' | 'immutableTags'>, sources: Sources): UpkeepConfig {
  const repositories = (v: unknown, at: string) => patterns(v, at, (p) => RepositoryPattern.compile(p), sources);
  const tags = (v: unknown, at: string) => patterns(v, at, (p) => TagPattern.compile(p), sources);
  let gc: GcSettings | undefined;
  let untagged: UntaggedRule[] | undefined;
  if (tree.gc !== undefined) {
    const intervalMs = ms(tree.gc.intervalSeconds);
    const graceMs = ms(tree.gc.graceSeconds);
    gc = { ...(intervalMs !== undefined ? { intervalMs } : {}), ...(graceMs !== undefined ? { graceMs } : {}) };
    untagged = (tree.gc.untagged as Obj[] | undefined)?.map((r, i) => {
      const olderThanMs = ms(r.olderThanSeconds);
      return {
        repositories: repositories(r.repositories, `gc.untagged[${i}].repositories`),
        ...(olderThanMs !== undefined ? { olderThanMs } : {}),
        ...(r.orphanReferrers !== undefined ? { orphanReferrers: r.orphanReferrers as boolean } : {}),
      };
    });
  }
  const retention = (tree.retention as Obj[] | undefined)?.map((r, i): RetentionRule => {
    const at = `retention[${i}]`;
    if (r.keepWithinDays !== undefined && r.keepWithinSeconds !== undefined) throw sources.error(at, 'give keepWithinDays or keepWithinSeconds, not both');
    const keepWithinMs = ms(r.keepWithinDays, 86_400) ?? ms(r.keepWithinSeconds);
    if (r.keepLast === undefined && keepWithinMs === undefined) throw sources.error(at, 'needs keepLast, keepWithinDays or keepWithinSeconds');
    return {
      repositories: repositories(r.repositories, `${at}.repositories`),
      ...(r.keepLast !== undefined ? { keepLast: r.keepLast as number } : {}),
      ...(keepWithinMs !== undefined ? { keepWithinMs } : {}),
      ...(r.exceptTags !== undefined ? { exceptTags: tags(r.exceptTags, `${at}.exceptTags`) } : {}),
    };
  });
  const immutableTags = (tree.immutableTags as Obj[] | undefined)?.map(
    (r, i): ImmutableTagRule => ({
      repositories: repositories(r.repositories, `immutableTags[${i}].repositories`),
      ...(r.tags !== undefined ? { tags: tags(r.tags, `immutableTags[${i}].tags`) } : {}),
    }),
  );
  const storagePolicy: PolicyRules = { ...(untagged ? { untagged } : {}), ...(retention ? { retention } : {}), ...(immutableTags ? { immutableTags } : {}) };
  return { ...(gc ? { gc } : {}), ...(Object.keys(storagePolicy).length > 0 ? { storagePolicy } : {}) };
}
