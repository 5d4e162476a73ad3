/**
 * Per-repository storage policies: which manifests the untagged policy
 * removes, which tags retention keeps, which tags are immutable. Rules name
 * repositories with the patterns of access control (oci/patterns.ts: `*` within
 * a path component, `**` across components) and tags with `*` globs.
 * Untagged and retention rules: the first rule whose pattern matches a
 * repository applies to it. Immutable tags: every matching rule counts.
 */
import { RepositoryPattern } from '../oci/patterns.js';

export interface UntaggedRule {
  readonly repositories: readonly string[];
  /** Manifests last used less than this long ago are kept. Default: the collection's grace period. */
  readonly olderThanMs?: number;
  /** Remove referrers whose subject is gone (default true); false keeps every referrer. */
  readonly orphanReferrers?: boolean;
}

export interface RetentionRule {
  readonly repositories: readonly string[];
  /** Keep the this many most recently set tags. */
  readonly keepLast?: number;
  /** Keep tags set within this long. A tag is kept when either keep condition holds. */
  readonly keepWithinMs?: number;
  /** Tags matching one of these are always kept and do not count towards keepLast. */
  readonly exceptTags?: readonly string[];
}

export interface ImmutableTagRule {
  readonly repositories: readonly string[];
  /** Tag patterns; default every tag. */
  readonly tags?: readonly string[];
}

export interface PolicyRules {
  readonly untagged?: readonly UntaggedRule[];
  readonly retention?: readonly RetentionRule[];
  readonly immutableTags?: readonly ImmutableTagRule[];
}

const TAG_PATTERN = /^[A-Za-z0-9_.*-]{1,128}$/;

/** A tag glob: `*` is any run of characters, everything else literal. Throws on characters no tag has. */
export class TagPattern {
  private constructor(private readonly parts: readonly string[]) {}

  static compile(pattern: string): TagPattern {
    if (!TAG_PATTERN.test(pattern)) throw new Error(`invalid tag pattern ${JSON.stringify(pattern.slice(0, 140))}: use 1-128 of A-Z a-z 0-9 _ . - and *`);
    return new TagPattern(pattern.split('*'));
  }

  matches(tag: string): boolean {
    const { parts } = this;
    if (parts.length === 1) return tag === parts[0];
    const first = parts[0]!;
    const last = parts[parts.length - 1]!;
    if (tag.length < first.length + last.length || !tag.startsWith(first) || !tag.endsWith(last)) return false;
    let pos = first.length;
    const end = tag.length - last.length;
    for (const part of parts.slice(1, -1)) {
      const at = tag.indexOf(part, pos);
      if (at === -1 || at + part.length > end) return false;
      pos = at + part.length;
    }
    return true;
  }
}

interface Compiled<R> {
  readonly rule: R;
  readonly repositories: readonly RepositoryPattern[];
  readonly tags: readonly TagPattern[];
}

function compile<R extends { repositories: readonly string[] }>(rules: readonly R[] | undefined, tags: (r: R) => readonly string[] | undefined): Compiled<R>[] {
  return (rules ?? []).map((rule) => {
    if (rule.repositories.length === 0) throw new Error('a rule must name at least one repository pattern');
    return { rule, repositories: rule.repositories.map((p) => RepositoryPattern.compile(p)), tags: (tags(rule) ?? []).map((p) => TagPattern.compile(p)) };
  });
}

const matching = <R>(rules: readonly Compiled<R>[], repository: string) => rules.filter((c) => c.repositories.some((p) => p.matches(repository)));

/** Compiled rules. Construction throws on an invalid pattern. */
export class StoragePolicy {
  readonly #untagged: Compiled<UntaggedRule>[];
  readonly #retention: Compiled<RetentionRule>[];
  readonly #immutable: Compiled<ImmutableTagRule>[];

  constructor(rules: PolicyRules = {}) {
    this.#untagged = compile(rules.untagged, () => undefined);
    this.#retention = compile(rules.retention, (r) => r.exceptTags);
    this.#immutable = compile(rules.immutableTags, (r) => r.tags ?? ['*']);
    for (const { rule } of this.#retention) {
      if (rule.keepLast === undefined && rule.keepWithinMs === undefined) throw new Error('a retention rule needs keepLast or keepWithin');
    }
  }

  /** Whether any untagged or retention rule exists (collection then also prunes manifests). */
  get prunes(): boolean {
    return this.#untagged.length > 0 || this.#retention.length > 0;
  }

  untaggedRule(repository: string): UntaggedRule | undefined {
    return matching(this.#untagged, repository)[0]?.rule;
  }

  retentionRule(repository: string): RetentionRule | undefined {
    return matching(this.#retention, repository)[0]?.rule;
  }

  /** Whether `tag` of `repository` is excepted from retention by the rule that applies. */
  exceptedFromRetention(repository: string, tag: string): boolean {
    return matching(this.#retention, repository)[0]?.tags.some((p) => p.matches(tag)) === true;
  }

  /** Whether some immutable-tag rule covers the repository. */
  hasImmutableTags(repository: string): boolean {
    return matching(this.#immutable, repository).length > 0;
  }

  isImmutable(repository: string, tag: string): boolean {
    return matching(this.#immutable, repository).some((c) => c.tags.some((p) => p.matches(tag)));
  }
}
