/**
 * Whole ports: a contract suite lists every method of its port, the build
 * checks the list against the port type (so the list cannot drift), and a
 * case fails when a store lacks one of them.
 */

/** The methods of T (optional ones included) not in Listed; `never` when the list is complete. */
export type Unlisted<T, Listed> = Exclude<{ [K in keyof T]-?: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T], Listed>;

/** The names in `methods` that `target` does not have as functions. */
export function missingMethods(target: object, methods: readonly string[]): string[] {
  return methods.filter((m) => typeof (target as Record<string, unknown>)[m] !== 'function');
}
