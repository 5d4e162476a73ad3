/**
 * Per-repository permissions: rules that grant actions on repositories whose
 * names match patterns (oci/patterns.ts) to users, groups, any authenticated user
 * (`users: ['*']`) or, for pull only, anonymous callers; and admins, who hold
 * every action everywhere. Nothing is granted that no rule grants.
 */
import { RepositoryPattern } from '../oci/patterns.js';

export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

export interface PolicyRule {
  /** Repository name patterns (see oci/patterns.ts). */
  readonly repositories: readonly string[];
  /** User names; `'*'` is any authenticated user. */
  readonly users?: readonly string[];
  readonly groups?: readonly string[];
  /** What the users and groups of this rule may do. */
  readonly actions?: readonly Action[];
  /** Anyone, without credentials, may pull from these repositories. */
  readonly anonymousPull?: boolean;
}

export interface PolicyOptions {
  readonly rules?: readonly PolicyRule[];
  /** Group name → member user names. */
  readonly groups?: Readonly<Record<string, readonly string[]>>;
  /** Users and groups with every action on every repository. */
  readonly admins?: { readonly users?: readonly string[]; readonly groups?: readonly string[] };
}

interface CompiledRule {
  readonly patterns: readonly RepositoryPattern[];
  readonly users: ReadonlySet<string>;
  readonly groups: ReadonlySet<string>;
  readonly actions: readonly Action[];
  readonly anonymousPull: boolean;
}

export class AccessPolicy {
  private readonly rules: readonly CompiledRule[];
  private readonly memberOf = new Map<string, Set<string>>();
  private readonly adminUsers: ReadonlySet<string>;
  private readonly adminGroups: ReadonlySet<string>;

  /** Throws (PatternError, TypeError) on an invalid pattern or action. */
  constructor(options: PolicyOptions = {}) {
    for (const [group, members] of Object.entries(options.groups ?? {})) {
      for (const user of members) {
        if (!this.memberOf.has(user)) this.memberOf.set(user, new Set());
        this.memberOf.get(user)!.add(group);
      }
    }
    this.adminUsers = new Set(options.admins?.users ?? []);
    this.adminGroups = new Set(options.admins?.groups ?? []);
    this.rules = (options.rules ?? []).map((rule, i) => {
      for (const a of rule.actions ?? []) {
        if (!ACTIONS.includes(a)) throw new TypeError(`rule ${i + 1}: unknown action ${JSON.stringify(a)}; use ${ACTIONS.join(', ')}`);
      }
      if (rule.repositories.length === 0) throw new TypeError(`rule ${i + 1}: repositories must name at least one pattern`);
      return {
        patterns: rule.repositories.map((p) => RepositoryPattern.compile(p)),
        users: new Set(rule.users ?? []),
        groups: new Set(rule.groups ?? []),
        actions: [...(rule.actions ?? [])],
        anonymousPull: rule.anonymousPull === true,
      };
    });
  }

  /** Groups of `user`. */
  groupsOf(user: string): ReadonlySet<string> {
    return this.memberOf.get(user) ?? new Set();
  }

  isAdmin(user: string | undefined): boolean {
    if (user === undefined) return false;
    if (this.adminUsers.has(user)) return true;
    for (const g of this.groupsOf(user)) if (this.adminGroups.has(g)) return true;
    return false;
  }

  /** The actions `user` (undefined: anonymous) holds on `repository`, a valid repository name. */
  actions(user: string | undefined, repository: string): Set<Action> {
    if (this.isAdmin(user)) return new Set(ACTIONS);
    const held = new Set<Action>();
    const groups = user === undefined ? [] : [...this.groupsOf(user)];
    for (const rule of this.rules) {
      if (!rule.patterns.some((p) => p.matches(repository))) continue;
      if (rule.anonymousPull) held.add('pull');
      const names = user !== undefined && (rule.users.has(user) || rule.users.has('*') || groups.some((g) => rule.groups.has(g)));
      if (names) for (const a of rule.actions) held.add(a);
    }
    return held;
  }

  allows(user: string | undefined, repository: string, action: Action): boolean {
    return this.actions(user, repository).has(action);
  }
}
