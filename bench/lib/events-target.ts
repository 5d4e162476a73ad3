/**
 * The `events` bench target: ours as the `ours` target runs it, plus one
 * webhook subscription (CloudEvents, signed) to a receiver on loopback that
 * answers 204 at once (support/webhook-receiver.ts, counting only; it runs in
 * the benchmark's process, beside the load generator) and the audit log
 * written to a file in the target's directory. Compared with `ours`, it
 * measures what events and auditing cost a push (README "Events and audit").
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startWebhookReceiver } from '../../support/webhook-receiver.js';
import { startOurs, type ServerProcess, type StartOptions } from './servers.js';

export interface EventsTarget extends ServerProcess {
  /** Events the receiver accepted so far. */
  delivered(): number;
}

export async function startEventsTarget(opts: StartOptions): Promise<EventsTarget> {
  await mkdir(opts.dir, { recursive: true });
  const receiver = await startWebhookReceiver({ record: false });
  const config = join(opts.dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      events: { subscriptions: [{ name: 'bench', url: `${receiver.url}/events`, secret: 'whsec_YmVuY2gtc2VjcmV0' }] },
      audit: { sink: join(opts.dir, 'audit.jsonl') },
    }),
  );
  let server: ServerProcess;
  try {
    server = await startOurs({ ...opts, env: { ...opts.env, FERRO_OCI_CONFIG: config } });
  } catch (err) {
    await receiver.close();
    throw err;
  }
  return {
    ...server,
    id: 'events',
    delivered: () => receiver.accepted,
    stop: async (timeoutMs?: number) => {
      await server.stop(timeoutMs);
      await receiver.close();
    },
  };
}
