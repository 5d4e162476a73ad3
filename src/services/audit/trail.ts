/** Reading the audit log back from the metadata store (GET /admin/audit). */
import type { AuditEntry, AuditQuery, MetadataStore } from '../../storage/meta/types.js';

export class AuditTrail {
  constructor(private readonly store: MetadataStore) {}

  /** One page of records matching `query`, oldest first; `next` is the seq to continue after when the page is full. */
  async page(query: AuditQuery, signal?: AbortSignal): Promise<{ records: AuditEntry[]; next?: number }> {
    const records = await this.store.listAudit(query, signal);
    const last = records[records.length - 1];
    return records.length === query.limit && last !== undefined ? { records, next: last.seq } : { records };
  }
}
