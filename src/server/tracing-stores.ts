/**
 * Span-per-call wrappers of the storage ports (tracing.ts): a Proxy that
 * passes every property through and runs every method call in `traced`,
 * named `BlobStore.<method>`, `BlobWriter.<method>` or
 * `MetadataStore.<method>`. Methods run on the store itself (its private
 * fields and its calls to itself stay untraced); the writers createUpload
 * and resumeUpload return are wrapped too. The synchronous MetadataStore.clock
 * (a local reading) is passed through.
 */
import type { BlobStore, BlobWriter } from '../storage/blob/types.js';
import type { MetadataStore } from '../storage/meta/types.js';

/** Runs `call` as span `name` when inside a request's span, else runs it as is; a promise's span ends when it settles. */
export type Traced = <T>(name: string, call: () => T) => T;

const SYNC = new Set(['clock']);

function wrap<T extends object>(target: T, prefix: string, traced: Traced, wrapResult?: (method: string, value: unknown) => unknown): T {
  const cache = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, property) {
      const value: unknown = Reflect.get(t, property, t);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor') return value;
      let wrapped = cache.get(property);
      if (wrapped === undefined) {
        const method = value as (...args: unknown[]) => unknown;
        const name = `${prefix}.${property}`;
        wrapped = SYNC.has(property) ? method.bind(t) : (...args: unknown[]) => {
          const result = traced(name, () => method.apply(t, args));
          return wrapResult && result instanceof Promise ? result.then((v: unknown) => wrapResult(property, v)) : result;
        };
        cache.set(property, wrapped);
      }
      return wrapped;
    },
  });
}

export function tracedBlobStore(store: BlobStore, traced: Traced): BlobStore {
  const writer = (method: string, value: unknown) =>
    (method === 'createUpload' || method === 'resumeUpload') && value !== undefined ? wrap(value as BlobWriter, 'BlobWriter', traced) : value;
  return wrap(store, 'BlobStore', traced, writer);
}

export function tracedMetadataStore(store: MetadataStore, traced: Traced): MetadataStore {
  return wrap(store, 'MetadataStore', traced);
}
