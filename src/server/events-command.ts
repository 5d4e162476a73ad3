/**
 * `ferro-oci-server events dead|replay`: the dead events of the stores the
 * storage settings name (opened as the server opens them; safe next to
 * running servers), as the /admin/events endpoints give them.
 *
 *   events dead [--json] [--limit N]   one line per dead event (seq, id, type, repository, attempts, last error), or JSON lines
 *   events replay [--id ID]...         makes the named dead events (all without --id) pending again
 */
import { DeadLetters } from '../services/events/dead-letters.js';
import { openCommandStores, type CheckOutput } from './check-command.js';
import { ConfigError, type StorageConfig } from './config.js';
import { STORAGE_USAGE } from './config-usage.js';
import { closeStores } from './stores.js';

export interface EventsCommand {
  readonly kind: 'events';
  readonly action: 'dead' | 'replay';
  readonly storage: StorageConfig;
  readonly json: boolean;
  readonly limit: number;
  /** replay: these ids; undefined: every dead event. */
  readonly ids?: readonly string[];
}

// A function: config.ts imports this module, so its constants are not initialised yet at load.
const usage = (): string => [
  'Usage: ferro-oci-server events dead [--json] [--limit N] [storage options]',
  '       ferro-oci-server events replay [--id ID]... [storage options]',
  '',
  'Lists the events parked as dead (their delivery failed for the whole retry window), or makes them',
  'pending again: the servers deliver them anew. replay without --id replays every dead event.',
  ...STORAGE_USAGE,
  'Exit codes: 0 done, 1 failed, 2 bad usage.',
  '',
].join('\n');

/** The flags of `events` besides the storage settings. */
export const EVENTS_FLAGS = { json: { type: 'boolean' }, limit: { type: 'string' }, id: { type: 'string' } } as const;

/** The `events` command from its positionals, flags and raw arguments (several --id); `storage` reads the storage settings. */
export function eventsCommandOf(
  positionals: readonly string[],
  flags: Readonly<Record<string, unknown>>,
  argv: readonly string[],
  storage: () => StorageConfig,
): EventsCommand | { readonly kind: 'help'; readonly usage: string } {
  const action = positionals[0];
  if (flags.help === true || action === undefined) return { kind: 'help', usage: usage() };
  if ((action !== 'dead' && action !== 'replay') || positionals.length > 1) throw new ConfigError(`usage: ferro-oci-server events dead|replay [options] (events --help)`);
  const limit = typeof flags.limit === 'string' ? Number(flags.limit) : 1000;
  if (!(Number.isSafeInteger(limit) && limit > 0)) throw new ConfigError(`invalid --limit ${JSON.stringify(flags.limit)}: expected a positive integer`);
  // The flag parser keeps the last --id; the ids are read from argv so that several can be given.
  const ids = argv.flatMap((a, i) => (a === '--id' ? [argv[i + 1] ?? ''] : a.startsWith('--id=') ? [a.slice(5)] : [])).filter((id) => id !== '');
  if (action === 'dead' && ids.length > 0) throw new ConfigError('--id applies to events replay');
  return { kind: 'events', action, storage: storage(), json: flags.json === true, limit, ...(ids.length > 0 ? { ids } : {}) };
}

export async function runEventsCommand(command: EventsCommand, out: CheckOutput, err: CheckOutput): Promise<number> {
  const stores = await openCommandStores('events', command.storage, err);
  if (typeof stores === 'number') return stores;
  const dead = new DeadLetters(stores.metadataStore);
  try {
    if (command.action === 'replay') {
      out.write(`replayed ${await dead.replay(command.ids)} dead events\n`);
      return 0;
    }
    let afterSeq: number | undefined;
    for (let left = command.limit; left > 0; ) {
      const page = await dead.list({ ...(afterSeq === undefined ? {} : { afterSeq }), limit: Math.min(left, 500) });
      for (const e of page) {
        out.write(command.json ? `${JSON.stringify(e)}\n` : `${e.seq} ${e.event.id} ${e.event.type} ${e.event.repository ?? '-'} attempts=${e.attempts} error=${JSON.stringify(e.lastError ?? '')}\n`);
      }
      if (page.length < Math.min(left, 500)) break;
      left -= page.length;
      afterSeq = page[page.length - 1]!.seq;
    }
    return 0;
  } catch (e) {
    err.write(`ferro-oci-server events: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    await closeStores(stores);
  }
}
