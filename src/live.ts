/**
 * Live<T>: a value that is replaced whole, in one assignment, while the
 * process runs (configuration reload, server/reload.ts). Readers take
 * `current` once per operation and keep that snapshot to the end of it, so an
 * operation never sees half of an old value and half of a new one.
 */
export class Live<T> {
  #value: T;
  readonly #listeners = new Set<(value: T) => void>();

  constructor(value: T) {
    this.#value = value;
  }

  /** `value` itself when it is a Live, else a Live that never changes unless set. */
  static of<T>(value: T | Live<T>): Live<T> {
    return value instanceof Live ? value : new Live(value);
  }

  get current(): T {
    return this.#value;
  }

  /** Replaces the value, then calls the listeners synchronously, in the order they were added. */
  set(value: T): void {
    this.#value = value;
    for (const listener of this.#listeners) listener(value);
  }

  /** Calls `listener` after every set(); returns the function that removes it. */
  onChange(listener: (value: T) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A Live of `fn(value)`, recomputed on every set() of this one. `fn` must not throw: validate before set(). */
  map<U>(fn: (value: T) => U): Live<U> {
    const derived = new Live(fn(this.#value));
    this.onChange((value) => derived.set(fn(value)));
    return derived;
  }
}
