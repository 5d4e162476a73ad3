/** The upload sessions of the in-memory MetadataStore (types.ts UploadSession); records are copies both ways. */
import type { UploadSession } from '../types.js';
import { compareBytes } from './schema.js';

export class MemoryUploads {
  readonly #sessions = new Map<string, UploadSession>();

  get size(): number {
    return this.#sessions.size;
  }

  create(session: UploadSession): void {
    if (this.#sessions.has(session.id)) throw new Error(`upload session ${session.id} already exists`);
    const { hashState: _none, ...record } = session; // saved by update only
    this.#sessions.set(session.id, record);
  }

  get(id: string): UploadSession | undefined {
    const session = this.#sessions.get(id);
    return session === undefined ? undefined : { ...session };
  }

  update(id: string, offset: number, updatedAt: number, hashState: Uint8Array | undefined): boolean {
    const session = this.#sessions.get(id);
    if (session === undefined) return false;
    const { hashState: _old, ...rest } = session;
    this.#sessions.set(id, hashState === undefined ? { ...rest, offset, updatedAt } : { ...rest, offset, updatedAt, hashState: Uint8Array.from(hashState) });
    return true;
  }

  delete(id: string): boolean {
    return this.#sessions.delete(id);
  }

  /** Sessions untouched since `before`, least recently updated first (ties by id), at most `limit`. */
  listIdle(before: number, limit: number): UploadSession[] {
    if (!(limit > 0)) return [];
    return [...this.#sessions.values()]
      .filter((s) => s.updatedAt < before)
      .sort((a, b) => a.updatedAt - b.updatedAt || compareBytes(a.id, b.id))
      .slice(0, Math.floor(limit))
      .map((s) => ({ ...s }));
  }

  clear(): void {
    this.#sessions.clear();
  }
}
