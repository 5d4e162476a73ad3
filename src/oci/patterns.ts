/**
 * Repository name patterns: globs matched against whole names, component by
 * component (components are separated by '/').
 *
 *   `*`   any run of characters within one component (possibly empty)
 *   `**`  (a whole component) zero or more whole components
 *
 * Everything else is literal. Patterns use the characters of repository
 * names plus `*`; anything else is refused when the pattern is compiled, so
 * a pattern can never mean more than it says. Matching is anchored at both
 * ends and uses no regular expressions. `team/**` matches `team` itself and
 * everything below it; `team/*` matches exactly one component below it.
 */

const PATTERN_CHARS = /^[a-z0-9._\-/*]+$/;

type Component = { readonly kind: 'any' } | { readonly kind: 'glob'; readonly parts: readonly string[] };

/** An invalid pattern; the message names the pattern and what is wrong. */
export class PatternError extends Error {
  constructor(pattern: string, why: string) {
    super(`invalid repository pattern ${JSON.stringify(pattern.slice(0, 300))}: ${why}`);
    this.name = 'PatternError';
  }
}

/** Whether `text` matches `parts` (the literal pieces of a component split at `*`). Linear-time greedy matching. */
function matchComponent(parts: readonly string[], text: string): boolean {
  if (parts.length === 1) return parts[0] === text;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  let pos = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i]!;
    const at = text.indexOf(part, pos);
    if (at === -1 || at + part.length > end) return false;
    pos = at + part.length;
  }
  return true;
}

export class RepositoryPattern {
  private constructor(
    readonly source: string,
    private readonly components: readonly Component[],
  ) {}

  /** Compiles `pattern`; throws PatternError when it is not a valid pattern. */
  static compile(pattern: string): RepositoryPattern {
    if (pattern.length === 0 || pattern.length > 512) throw new PatternError(pattern, 'must be 1 to 512 characters');
    if (!PATTERN_CHARS.test(pattern)) throw new PatternError(pattern, 'may contain only a-z, 0-9, ".", "_", "-", "/" and "*"');
    const components = pattern.split('/').map((c): Component => {
      if (c === '') throw new PatternError(pattern, 'has an empty path component (leading, trailing or double "/")');
      if (c === '.' || c === '..') throw new PatternError(pattern, '"." and ".." components are not allowed');
      if (c === '**') return { kind: 'any' };
      if (c.includes('**')) throw new PatternError(pattern, '"**" must be a whole path component');
      return { kind: 'glob', parts: c.split('*') };
    });
    return new RepositoryPattern(pattern, components);
  }

  /** Whether the whole of `name` matches. */
  matches(name: string): boolean {
    const names = name.split('/');
    const pats = this.components;
    // reach[j]: pats[0..i) can match names[0..j). One row per pattern component.
    let reach: boolean[] = new Array<boolean>(names.length + 1).fill(false);
    reach[0] = true;
    for (const pat of pats) {
      const next = new Array<boolean>(names.length + 1).fill(false);
      if (pat.kind === 'any') {
        let seen = false;
        for (let j = 0; j <= names.length; j++) {
          seen = seen || reach[j]!;
          next[j] = seen;
        }
      } else {
        for (let j = 0; j < names.length; j++) if (reach[j] && matchComponent(pat.parts, names[j]!)) next[j + 1] = true;
      }
      reach = next;
    }
    return reach[names.length]!;
  }
}
