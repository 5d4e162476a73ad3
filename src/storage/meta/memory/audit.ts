/** The audit log of the in-memory MetadataStore (../audit.ts AuditLog). */
import { auditMatches, type AuditEntry, type AuditQuery, type AuditRecord } from '../audit.js';

export class MemoryAudit {
  #rows: AuditEntry[] = [];
  #seq = 0;

  append(records: readonly AuditRecord[]): void {
    for (const r of records) this.#rows.push({ ...r, seq: ++this.#seq });
  }

  list(query: AuditQuery): AuditEntry[] {
    const out: AuditEntry[] = [];
    for (const r of this.#rows) {
      if (out.length >= Math.floor(query.limit)) break;
      if (auditMatches(r, query)) out.push({ ...r });
    }
    return out;
  }

  prune(before: number): number {
    const kept = this.#rows.filter((r) => r.time >= before);
    const removed = this.#rows.length - kept.length;
    this.#rows = kept;
    return removed;
  }
}
