/**
 * Docker token scopes and the `access` claim of registry tokens (Docker
 * token spec): `repository:<name>:<actions>` and `registry:catalog:*`, with
 * actions comma-separated and `*` meaning every action.
 */

export interface ResourceScope {
  /** `repository` or `registry` (a `repository(plugin)` class suffix is dropped). */
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** At most this many scopes are honoured per token request. */
export const MAX_SCOPES = 64;

const TYPE_RE = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;
const ACTION_RE = /^(?:\*|[a-z]{1,32})$/;

/** Parses `type:name:actions` (the name may itself contain ':'); undefined when malformed. */
export function parseScope(text: string): ResourceScope | undefined {
  if (text.length > 600) return undefined;
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const typeText = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(',').filter((a) => a !== '');
  if (!TYPE_RE.test(typeText) || name === '' || actions.length === 0 || !actions.every((a) => ACTION_RE.test(a))) return undefined;
  return { type: typeText.replace(/\(.*\)$/, ''), name, actions: [...new Set(actions)] };
}

/** Splits scope parameters (repeatable, each possibly space-separated) and parses them; malformed ones are dropped. */
export function parseScopes(values: readonly string[]): ResourceScope[] {
  const out: ResourceScope[] = [];
  for (const value of values) {
    for (const text of value.split(' ')) {
      if (text === '') continue;
      const scope = parseScope(text);
      if (scope && out.length < MAX_SCOPES) out.push(scope);
    }
  }
  return out;
}

export function formatScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/** The well-formed entries of a token's `access` claim; anything else grants nothing. */
export function parseAccessClaim(claim: unknown): ResourceScope[] {
  if (!Array.isArray(claim)) return [];
  const out: ResourceScope[] = [];
  for (const entry of claim.slice(0, 1000)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions)) continue;
    out.push({ type, name, actions: actions.filter((a): a is string => typeof a === 'string') });
  }
  return out;
}

/** Whether `access` grants `action` on the resource `type`/`name` exactly (no patterns in tokens). */
export function accessGrants(access: readonly ResourceScope[], type: string, name: string, action: string): boolean {
  return access.some((a) => a.type === type && a.name === name && (a.actions.includes(action) || a.actions.includes('*')));
}
