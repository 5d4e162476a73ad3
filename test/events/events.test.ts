/**
 * Events end to end (README "Events and audit"): the server binary on SQLite
 * delivers to a real receiver on loopback: every event type in both formats
 * with valid signatures, filters, deletions by retention and the untagged policy, a receiver down then back, dead letters
 * listed and replayed over /admin/events and the `events` command.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SERVER_MAIN, startServer, type RunningServer } from '../../support/server-process.js';
import { startWebhookReceiver, validSignature, type ReceivedRequest, type WebhookReceiver } from '../../support/webhook-receiver.js';
import { OciClient } from '../../support/oci-client.js';
import { until } from '../../support/poll.js';

const run = promisify(execFile);
const SECRET_CE = 'whsec_' + Buffer.from('cloudevents secret').toString('base64');
const SECRET_DIST = 'whsec_' + Buffer.from('distribution secret').toString('base64');
const SBOM = 'application/vnd.example.sbom';

async function serve(dir: string, events: Record<string, unknown>, more: Record<string, unknown> = {}): Promise<RunningServer> {
  await mkdir(join(dir, 'storage'), { recursive: true });
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ events: { pollSeconds: 0.05, ...events }, ...more }));
  return startServer({ env: { FERRO_OCI_STORAGE_DIR: join(dir, 'storage'), FERRO_OCI_CONFIG: config } });
}

/** 200 reads 50 ms apart (10 s). */
const POLL = { tries: 200, intervalMs: 50 };

async function deadEvents(client: OciClient): Promise<Record<string, unknown>[]> {
  return ((await (await client.fetch('/admin/events/dead')).json()) as { events: Record<string, unknown>[] }).events;
}

const at = (path: string) => (r: ReceivedRequest) => r.path === path;
const ceType = (r: ReceivedRequest) => String(r.json.type).replace('io.ferro-oci.', '');

describe('events (server binary, SQLite)', () => {
  let dir: string;
  let receiver: WebhookReceiver;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-events-'));
    receiver = await startWebhookReceiver();
  });
  after(async () => {
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers every event type in both formats, signed, and applies the filters', async () => {
    const r = receiver.url;
    const server = await serve(join(dir, 'all'), {
      source: 'registry.test',
      subscriptions: [
        { name: 'ce', url: `${r}/ce`, format: 'cloudevents', secret: SECRET_CE, headers: { 'x-team': 'ops' } },
        { name: 'dist', url: `${r}/dist`, format: 'distribution', secret: SECRET_DIST },
        { name: 'apps', url: `${r}/apps`, repositories: ['apps/**'], types: ['manifest.pushed', 'tag.deleted'] },
        { name: 'sbom', url: `${r}/sbom`, artifactTypes: [SBOM] },
      ],
    });
    try {
      const client = new OciClient(server.url);
      const m1 = await client.pushImage('apps/web', 'v1', { layers: 1 });
      const m2 = await client.pushImage('apps/web', 'v1', { layers: 1 });
      assert.equal((await client.putManifest('apps/web', 'old', m1.bytes)).status, 201);
      assert.equal((await client.fetch('/v2/apps/web/manifests/old', { method: 'DELETE' })).status, 202);
      assert.equal((await client.fetch(`/v2/apps/web/manifests/${m2.digest}`, { method: 'DELETE' })).status, 202);
      const layer = m1.layers[0]!;
      assert.equal((await client.fetch(`/v2/other/lib/blobs/uploads/?mount=${layer.digest}&from=apps/web`, { method: 'POST' })).status, 201);
      const config = Buffer.from('{}');
      const configDigest = await client.pushBlob('other/lib', config);
      const sbom = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: SBOM,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: configDigest, size: 2 },
        layers: [{ mediaType: 'application/octet-stream', digest: layer.digest, size: layer.bytes.length }] };
      assert.equal((await client.putManifest('other/lib', 'sbom', sbom)).status, 201);
      assert.equal((await client.fetch('/admin/gc', { method: 'POST' })).status, 200);

      const expected = { 'repository.created': 2, 'manifest.pushed': 4, 'tag.created': 3, 'tag.moved': 1, 'tag.deleted': 1, 'manifest.deleted': 1, 'blob.mounted': 1, 'collection.finished': 1 };
      const total = Object.values(expected).reduce((a, b) => a + b, 0);
      await receiver.waitFor((all) => all.filter(at('/ce')).length >= total && all.filter(at('/dist')).length >= total && all.filter(at('/apps')).length >= 4 && all.filter(at('/sbom')).length >= 1);
      await new Promise((res) => setTimeout(res, 300)); // nothing more arrives
      const ce = receiver.received.filter(at('/ce'));
      const dist = receiver.received.filter(at('/dist'));
      const counts: Record<string, number> = {};
      for (const e of ce) counts[ceType(e)] = (counts[ceType(e)] ?? 0) + 1;
      assert.deepEqual(counts, expected);

      // CloudEvents structured mode, signed; the same ids in distribution's envelope.
      for (const e of ce) {
        assert.equal(e.headers['content-type'], 'application/cloudevents+json');
        assert.equal(e.json.specversion, '1.0');
        assert.equal(e.json.source, 'registry.test');
        assert.equal(e.headers['webhook-id'], e.json.id);
        assert.equal(e.headers['x-team'], 'ops');
        assert.ok(validSignature(e, SECRET_CE), 'cloudevents signature');
        assert.ok(!validSignature(e, SECRET_DIST));
      }
      for (const e of dist) {
        assert.equal(e.headers['content-type'], 'application/vnd.docker.distribution.events.v2+json');
        assert.ok(validSignature(e, SECRET_DIST), 'distribution signature');
      }
      const distIds = dist.map((e) => ((e.json.events as Record<string, unknown>[])[0]!).id).sort();
      assert.deepEqual(distIds, ce.map((e) => e.json.id).sort());

      const data = (type: string) => ce.filter((e) => ceType(e) === type).map((e) => e.json.data as Record<string, unknown>);
      const moved = data('tag.moved')[0]!;
      assert.deepEqual([moved.repository, moved.tag, moved.digest, moved.previousDigest], ['apps/web', 'v1', m2.digest, m1.digest]);
      assert.deepEqual(data('manifest.deleted')[0]!.tags, ['v1']);
      assert.equal(data('manifest.deleted')[0]!.digest, m2.digest);
      assert.deepEqual([data('tag.deleted')[0]!.tag, data('tag.deleted')[0]!.digest], ['old', m1.digest]);
      assert.deepEqual([data('blob.mounted')[0]!.from, data('blob.mounted')[0]!.digest], ['apps/web', layer.digest]);
      const pushed = data('manifest.pushed')[0]!;
      assert.equal(pushed.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.equal(pushed.size, m1.bytes.length);
      assert.equal(pushed.address, '127.0.0.1');
      assert.equal(typeof pushed.requestId, 'string');
      assert.ok('deleted' in (data('collection.finished')[0]!.report as object));
      const deletedEnvelope = dist.map((e) => (e.json.events as Record<string, unknown>[])[0]!).find((e) => (e.target as Record<string, unknown>).digest === m2.digest && e.action === 'delete');
      assert.deepEqual((deletedEnvelope?.target as Record<string, unknown>).tags, ['v1']);

      // Filters: repository pattern + types; artifact type.
      assert.deepEqual(receiver.received.filter(at('/apps')).map(ceType).sort(), ['manifest.pushed', 'manifest.pushed', 'manifest.pushed', 'tag.deleted']);
      const sbomEvents = receiver.received.filter(at('/sbom'));
      assert.deepEqual(sbomEvents.map(ceType).sort(), ['manifest.pushed', 'tag.created'], 'the tag events of the artifact carry its type');
      assert.equal((sbomEvents[0]!.json.data as Record<string, unknown>).artifactType, SBOM);
      assert.equal(sbomEvents[0]!.headers['webhook-signature'], undefined, 'no secret: unsigned');
    } finally {
      await server.stop();
    }
  });

  it('deletions by retention, by the untagged policy and by digest under immutable-tag rules are events too, with their reason', async () => {
    receiver.received.length = 0;
    const policy = {
      gc: { intervalSeconds: 0, untagged: [{ repositories: ['scratch/**'], olderThanSeconds: 0 }] },
      retention: [{ repositories: ['ci/**'], keepLast: 1 }],
      immutableTags: [{ repositories: ['rel/**'], tags: ['v*'] }],
    };
    const server = await serve(join(dir, 'policy'), { subscriptions: [{ name: 'del', url: `${receiver.url}/del`, types: ['tag.deleted', 'manifest.deleted', 'collection.finished'] }] }, policy);
    try {
      const client = new OciClient(server.url);
      const old = await client.pushImage('ci/app', 'build-1', { layers: 1 });
      await new Promise((res) => setTimeout(res, 5));
      await client.pushImage('ci/app', 'build-2', { layers: 1 });
      const scratch = await client.pushImage('scratch/x', 'tmp', { layers: 1 });
      const rel = await client.pushImage('rel/app', 'dev', { layers: 1 });
      assert.equal((await client.fetch('/v2/scratch/x/manifests/tmp', { method: 'DELETE' })).status, 202);
      assert.equal((await client.fetch(`/v2/rel/app/manifests/${rel.digest}`, { method: 'DELETE' })).status, 202);
      await new Promise((res) => setTimeout(res, 5));
      assert.equal((await client.fetch('/admin/gc', { method: 'POST' })).status, 200);

      await receiver.waitFor((all) => all.length >= 7);
      await new Promise((res) => setTimeout(res, 300)); // nothing more arrives
      const seen = receiver.received.map((e) => {
        const d = e.json.data as Record<string, unknown>;
        return [ceType(e), d.repository ?? '', d.tag ?? d.digest ?? '', d.reason ?? ''].join(' ').trim();
      });
      assert.deepEqual(seen.sort(), [
        'collection.finished',
        `manifest.deleted ci/app ${old.digest} retention`,
        `manifest.deleted rel/app ${rel.digest}`,
        `manifest.deleted scratch/x ${scratch.digest} untagged`,
        'tag.deleted ci/app build-1 retention',
        'tag.deleted rel/app dev',
        'tag.deleted scratch/x tmp',
      ]);
      const report = receiver.received.find((e) => ceType(e) === 'collection.finished')!.json.data as { report: { manifests: { tagsRemoved: number; manifestsRemoved: number } } };
      assert.deepEqual([report.report.manifests.tagsRemoved, report.report.manifests.manifestsRemoved], [1, 2], 'the report counts the removals');
    } finally {
      await server.stop();
    }
  });

  it('a receiver down for a while gets the backlog once it is back; metrics show it pending meanwhile', async () => {
    receiver.received.length = 0;
    receiver.status = 503;
    const server = await serve(join(dir, 'down'), { initialBackoffSeconds: 0.1, maxBackoffSeconds: 0.3, subscriptions: [{ name: 'later', url: `${receiver.url}/later` }] });
    try {
      const client = new OciClient(server.url);
      const image = await client.pushImage('app', 't0', { layers: 0 });
      for (let i = 1; i <= 10; i++) assert.equal((await client.putManifest('app', `t${i}`, image.bytes)).status, 201);
      const metric = async (name: string) => Number(new RegExp(`^ferro_oci_${name}\\{subscription="later"\\} (\\S+)$`, 'm').exec(await (await client.fetch('/metrics')).text())?.[1]);
      assert.ok((await until(() => metric('events_failed_total'), (n) => n >= 3, POLL)) >= 3, 'deliveries are attempted and fail');
      assert.equal(await metric('events_pending'), 1 + 2 + 2 * 10, 'repository.created, t0 pushed+created, 10 × (pushed+created): pending');
      receiver.status = 204;
      await receiver.waitFor((all) => all.length >= 23);
      assert.equal(new Set(receiver.received.map((e) => e.json.id)).size, 23);
      // The receiver has the last event before the server has recorded its answer: wait for the outbox to drain.
      const drained = await until(async () => [await metric('events_pending'), await metric('events_delivered_total')], ([pending, delivered]) => pending === 0 && delivered === 23, POLL);
      assert.deepEqual(drained, [0, 23], 'the 23 delivered events leave the outbox: [pending, delivered]');
    } finally {
      await server.stop();
    }
  });

  it('a receiver that answers after the timeout counts as a failure', async () => {
    receiver.received.length = 0;
    receiver.delayMs = 1000;
    const server = await serve(join(dir, 'slow'), { retrySeconds: 0.3, initialBackoffSeconds: 0.05, maxBackoffSeconds: 0.1, subscriptions: [{ name: 'slow', url: `${receiver.url}/slow`, timeoutSeconds: 0.1 }] });
    try {
      const client = new OciClient(server.url);
      await client.pushBlob('slow/app', Buffer.from('x'));
      const dead = await until(() => deadEvents(client), (d) => d.length >= 1, POLL);
      assert.ok(dead.length >= 1, 'the event becomes dead');
      assert.match(String(dead[0]!.lastError), /slow: no answer within 100 ms/);
    } finally {
      receiver.delayMs = 0;
      await server.stop();
    }
  });

  it('parks events past their retry window as dead; the admin endpoint and the events command list and replay them', async () => {
    receiver.received.length = 0;
    receiver.status = 500;
    const storage = join(dir, 'dead', 'storage');
    const server = await serve(join(dir, 'dead'), { retrySeconds: 0.3, initialBackoffSeconds: 0.05, maxBackoffSeconds: 0.1, subscriptions: [{ name: 'flaky', url: `${receiver.url}/flaky` }] });
    try {
      const client = new OciClient(server.url);
      await client.pushImage('app', 'v1', { layers: 0 });
      const dead = await until(() => deadEvents(client), (d) => d.length >= 3, POLL);
      assert.ok(dead.length >= 3, `events become dead (${dead.length})`);
      assert.match(String(dead[0]!.lastError), /flaky: HTTP 500/);
      const ids = dead.map((e) => (e.event as Record<string, unknown>).id as string);
      const listed = await run(process.execPath, [SERVER_MAIN, 'events', 'dead', '--storage-dir', storage]);
      for (const id of ids) assert.match(listed.stdout, new RegExp(id));
      assert.equal((await client.fetch('/admin/events/dead?limit=0')).status, 400);

      receiver.status = 204;
      const withBody = await client.fetch('/admin/events/replay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: [ids[0]] }) });
      assert.equal(withBody.status, 400, 'ids in a body are refused, not taken as "replay all"');
      assert.match(JSON.stringify(await withBody.json()), /named in the query/);
      assert.equal(((await (await client.fetch('/admin/events/dead')).json()) as { events: unknown[] }).events.length, 3, 'nothing was replayed');
      const one = await client.fetch(`/admin/events/replay?id=${ids[0]}`, { method: 'POST' });
      assert.deepEqual(await one.json(), { replayed: 1 });
      await receiver.waitFor((all) => all.length >= 1);
      const cli = await run(process.execPath, [SERVER_MAIN, 'events', 'replay', '--storage-dir', storage]);
      assert.match(cli.stdout, /replayed 2 dead events/);
      await receiver.waitFor((all) => all.length >= 3);
      assert.deepEqual(receiver.received.map((e) => e.json.id).sort(), [...ids].sort(), 'the same ids arrive');
      assert.deepEqual(((await (await client.fetch('/admin/events/dead')).json()) as { events: unknown[] }).events, []);
    } finally {
      await server.stop();
    }
  });
});
