/**
 * The outbox of the PostgreSQL MetadataStore (../events.ts EventOutbox):
 * table `events` (schema version 5), its statements, and the event writes
 * the store's transactions make. Claims lock rows FOR UPDATE SKIP LOCKED, so
 * concurrent replicas claim disjoint entries without waiting for each other.
 */
import type { ManifestFacts, OutboxEntry, RegistryEvent } from '../events.js';
import type { TxQuery } from './statements.js';

export const OUTBOX_MIGRATION = (s: string): string => `
  CREATE TABLE ${s}.events (
    seq bigserial PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    data jsonb NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    since bigint NOT NULL,
    next_attempt_at bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    delivered_to jsonb NOT NULL DEFAULT '[]',
    last_error text,
    lease_holder text,
    lease_until bigint
  );
  CREATE INDEX events_due ON ${s}.events (state, next_attempt_at, seq);
`;

const COLUMNS = 'seq, data, state, since, attempts, delivered_to AS "deliveredTo", last_error AS "lastError"';

export function outboxStatements(s: string) {
  return {
    // $1 ids, $2 events (JSON text), $3 times
    appendEvents: `INSERT INTO ${s}.events (id, data, since, next_attempt_at)
                   SELECT e.id, e.data::jsonb, e.t, e.t FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS e (id, data, t, n) ORDER BY e.n`,
    // $1 holder, $2 lease end, $3 now, $4 limit
    claimEvents: `UPDATE ${s}.events SET lease_holder = $1, lease_until = $2 WHERE seq IN (
                    SELECT seq FROM ${s}.events WHERE state = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
                    ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
                  RETURNING ${COLUMNS}`,
    eventsDelivered: `DELETE FROM ${s}.events WHERE id = ANY($1::text[]) AND lease_holder = $2 AND state = 'pending'`,
    // $1 id, $2 holder, $3 state, $4 next attempt, $5 delivered_to (JSON), $6 error
    settleEvent: `UPDATE ${s}.events SET state = $3, next_attempt_at = $4, attempts = attempts + 1, delivered_to = $5::jsonb, last_error = $6,
                    lease_holder = NULL, lease_until = NULL WHERE id = $1 AND lease_holder = $2 AND state = 'pending'`,
    listEvents: `SELECT ${COLUMNS} FROM ${s}.events WHERE state = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    // $1 now, $2 ids (NULL: all)
    replayEvents: `UPDATE ${s}.events SET state = 'pending', since = $1, next_attempt_at = $1, attempts = 0
                   WHERE state = 'dead' AND ($2::text[] IS NULL OR id = ANY ($2::text[]))`,
    // Events of the store's writes: the repository row (RETURNING tells whether this transaction created it),
    // the manifest a delete removes (locked) and its tags.
    createRepository: `INSERT INTO ${s}.repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING name`,
    lockManifestFacts: `SELECT media_type AS "mediaType", size, artifact_type AS "artifactType" FROM ${s}.manifests
                        WHERE repository = $1 AND digest = $2 FOR UPDATE`,
    tagsOf: `SELECT tag FROM ${s}.tags WHERE repository = $1 AND digest = $2 ORDER BY tag`,
  } as const;
}

export interface OutboxRow {
  seq: number;
  data: RegistryEvent;
  state: 'pending' | 'dead';
  since: number;
  attempts: number;
  deliveredTo: string[];
  lastError: string | null;
}

export function toEntries(rows: readonly OutboxRow[]): OutboxEntry[] {
  return rows
    .map((r) => ({ event: r.data, seq: r.seq, state: r.state, since: r.since, attempts: r.attempts, deliveredTo: r.deliveredTo, ...(r.lastError === null ? {} : { lastError: r.lastError }) }))
    .sort((a, b) => a.seq - b.seq);
}


/** Records events in the transaction at hand. */
export async function appendEventsTx(query: TxQuery, events: readonly RegistryEvent[]): Promise<void> {
  if (events.length === 0) return;
  await query('appendEvents', [events.map((e) => e.id), events.map((e) => JSON.stringify(e)), events.map((e) => e.time)]);
}

/** Creates the repository row when absent; resolves whether this transaction created it. */
export async function createRepositoryTx(query: TxQuery, repository: string, now: number): Promise<boolean> {
  return (await query('createRepository', [repository, now])).rowCount === 1;
}

/** Locks the manifest and reads what its manifest.deleted event names; undefined when absent. */
export async function manifestFactsTx(query: TxQuery, repository: string, digest: string): Promise<{ facts: ManifestFacts; tags: string[] } | undefined> {
  const row = (await query<{ mediaType: string; size: number; artifactType: string | null }>('lockManifestFacts', [repository, digest])).rows[0];
  if (row === undefined) return undefined;
  const tags = (await query<{ tag: string }>('tagsOf', [repository, digest])).rows.map((r) => r.tag);
  return { facts: { repository, digest, mediaType: row.mediaType, size: row.size, ...(row.artifactType === null ? {} : { artifactType: row.artifactType }) }, tags };
}
