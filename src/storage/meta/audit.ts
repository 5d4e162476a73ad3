/**
 * The audit log's part of the MetadataStore port (README "Events and
 * audit"): records of mutations and refused requests, appended in batches
 * off the request path, listed by time / actor / repository in recording
 * order, and pruned by age. Types only (node-free, like events.ts).
 */

/** One audited request. */
export interface AuditRecord {
  /** When the response ended (ms since the epoch). */
  readonly time: number;
  /** The user, or 'anonymous'. */
  readonly actor: string;
  /** Route kind and verb, e.g. manifest.put, blob.delete, upload.start, token.get, admin.gc.post. */
  readonly action: string;
  /** 'ok' (2xx/3xx), 'refused' (401, 403, 429) or 'failed' (any other answer, or the client went away). */
  readonly outcome: 'ok' | 'refused' | 'failed';
  readonly repository?: string;
  /** The tag, digest or upload id the request named. */
  readonly reference?: string;
  /** The client address (trusted-proxy aware, as the access log has it). */
  readonly address: string;
  /** The HTTP status; absent when the client went away before the headers were sent. */
  readonly status?: number;
  /** The OCI error code of an error answer. */
  readonly code?: string;
  readonly method: string;
  readonly requestId: string;
  /** The request's trace id (32 hex digits) when tracing is on (README "Tracing"). */
  readonly traceId?: string;
}

/** A stored record: `seq` orders them (and pages a listing). */
export interface AuditEntry extends AuditRecord {
  readonly seq: number;
}

export interface AuditQuery {
  /** Records with time >= since. */
  readonly since?: number;
  /** Records with time < until. */
  readonly until?: number;
  readonly actor?: string;
  readonly repository?: string;
  /** Records after this seq (the last one of the previous page). */
  readonly afterSeq?: number;
  readonly limit: number;
}

export interface AuditLog {
  /** Stores `records` (in order) in one transaction. */
  appendAudit(records: readonly AuditRecord[], signal?: AbortSignal): Promise<void>;
  /** Records matching every condition given, by ascending seq, at most `limit`. */
  listAudit(query: AuditQuery, signal?: AbortSignal): Promise<AuditEntry[]>;
  /** Deletes records with time < before; resolves with how many. */
  pruneAudit(before: number, signal?: AbortSignal): Promise<number>;
}

/** Whether `r` matches `q`'s conditions (apart from the limit): the stores' one definition of a match. */
export function auditMatches(r: AuditEntry, q: AuditQuery): boolean {
  return (
    (q.afterSeq === undefined || r.seq > q.afterSeq) &&
    (q.since === undefined || r.time >= q.since) &&
    (q.until === undefined || r.time < q.until) &&
    (q.actor === undefined || r.actor === q.actor) &&
    (q.repository === undefined || r.repository === q.repository)
  );
}
