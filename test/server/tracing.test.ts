/**
 * OpenTelemetry tracing end to end (README "Tracing"): the server binary on
 * SQLite and the filesystem, exporting to an OTLP/HTTP receiver on loopback.
 * A blob push and a manifest PUT arrive as SERVER spans that are children of
 * the client's `traceparent`, with their store calls as child spans; the
 * access line and the audit record carry the same trace id. With tracing
 * unset, nothing connects to the default collector port.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../support/server-process.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../support/otlp-receiver.js';
import { OciClient } from '../../support/oci-client.js';

/** The OTEL_* variables of this process are not the child's. */
const NO_OTEL_ENV = { OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined, OTEL_SDK_DISABLED: undefined };

async function serve(dir: string, config: Record<string, unknown>): Promise<RunningServer> {
  const file = join(dir, 'config.json');
  await mkdir(dir, { recursive: true });
  await writeFile(file, JSON.stringify({ auth: { mode: 'none' }, ...config }));
  return startServer({ env: { FERRO_OCI_STORAGE_DIR: join(dir, 'storage'), FERRO_OCI_CONFIG: file, ...NO_OTEL_ENV } });
}

const SERVER = 2;

function childrenOf(spans: readonly ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter((s) => s.traceId === parent.traceId && s.parentSpanId === parent.spanId);
}

describe('tracing (server binary, OTLP/HTTP receiver on loopback)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-tracing-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exports a push as request spans under the client traceparent, store calls beneath; the access line and the audit record carry the trace id', async (t) => {
    const receiver = await startOtlpReceiver();
    t.after(() => receiver.close());
    const server = await serve(join(dir, 'on'), { tracing: { endpoint: receiver.url, serviceName: 'registry-under-test' }, audit: { sink: 'audit.jsonl' } });
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    let pulled: Response;
    try {
      await server.waitForLog((l) => l.msg === 'tracing on');
      const client = new OciClient(server.url, { traceparent: `00-${traceId}-${clientSpan}-01` });
      await client.pushImage('traced/app', 'v1', { layers: 1 });
      pulled = await new OciClient(server.url).fetch('/v2/traced/app/manifests/v1');
      assert.equal(pulled.status, 200);
    } finally {
      // Stopping exports the spans still queued.
      await server.stop();
    }
    const spans = await receiver.waitFor((s) => s.some((x) => x.name === 'PUT /v2/<name>/manifests/<reference>') && s.some((x) => x.name === 'GET /v2/<name>/manifests/<reference>'));
    assert.equal(spans[0]!.resource['service.name'], 'registry-under-test');

    // Every request of the push is a SERVER span whose parent is the client's span.
    const requests = spans.filter((s) => s.kind === SERVER && s.traceId === traceId);
    assert.equal(requests.length, 5, `POST+PUT per blob (config, layer) and the manifest PUT: ${requests.map((s) => s.name).join(', ')}`);
    for (const r of requests) assert.equal(r.parentSpanId, clientSpan, r.name);

    const blobPuts = requests.filter((s) => s.name === 'PUT /v2/<name>/blobs/uploads/<reference>');
    assert.equal(blobPuts.length, 2);
    for (const put of blobPuts) {
      assert.equal(put.attributes['http.response.status_code'], 201);
      assert.equal(put.attributes['http.route'], '/v2/<name>/blobs/uploads/<reference>');
      assert.equal(put.attributes['oci.repository'], 'traced/app');
      const names = childrenOf(spans, put).map((s) => s.name);
      assert.ok(names.includes('BlobWriter.append') && names.includes('BlobWriter.commit'), `blob store calls under the blob PUT: ${names.join(', ')}`);
      assert.ok(names.some((n) => n.startsWith('MetadataStore.')), `metadata calls under the blob PUT: ${names.join(', ')}`);
    }

    const manifestPut = requests.find((s) => s.name === 'PUT /v2/<name>/manifests/<reference>')!;
    assert.equal(manifestPut.attributes['http.request.method'], 'PUT');
    assert.equal(manifestPut.attributes['http.response.status_code'], 201);
    const names = childrenOf(spans, manifestPut).map((s) => s.name);
    assert.ok(names.includes('MetadataStore.putManifest'), `store calls under the manifest PUT: ${names.join(', ')}`);

    // A request without traceparent starts a trace of its own.
    const get = spans.find((s) => s.name === 'GET /v2/<name>/manifests/<reference>')!;
    assert.notEqual(get.traceId, traceId);
    assert.equal(get.parentSpanId, '');
    assert.equal(get.attributes['http.response.status_code'], 200);

    // The trace id is the same in the access lines and the audit record.
    const access = server.jsonLogs().filter((l) => l.msg === 'request' && l.route === 'manifest');
    assert.equal(access.find((l) => l.method === 'PUT')?.traceId, traceId);
    assert.equal(access.find((l) => l.method === 'GET')?.traceId, get.traceId);
    const audit = (await readFile(join(dir, 'on', 'audit.jsonl'), 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const record = audit.find((r) => r.action === 'manifest.put');
    assert.equal(record?.traceId, traceId);
    assert.equal(record?.requestId, access.find((l) => l.method === 'PUT')?.reqId);
  });

  it('a pull through the mirror: a CLIENT span per upstream exchange, and the upstream request span is its child (traceparent sent on)', async (t) => {
    const receiver = await startOtlpReceiver();
    t.after(() => receiver.close());
    const upstream = await serve(join(dir, 'upstream'), { tracing: { endpoint: receiver.url, serviceName: 'upstream' } });
    let mirror: RunningServer | undefined;
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    try {
      const { layers } = await new OciClient(upstream.url).pushImage('mirrored/app', 'v1', { layers: 1 });
      mirror = await serve(join(dir, 'mirror'), { tracing: { endpoint: receiver.url, serviceName: 'mirror' }, mirrors: [{ name: 'up', url: upstream.url, namespace: 'up.test' }] });
      const client = new OciClient(mirror.url, { traceparent: `00-${traceId}-${clientSpan}-01`, accept: 'application/vnd.oci.image.manifest.v1+json' });
      assert.equal((await client.fetch('/v2/up.test/mirrored/app/manifests/v1')).status, 200);
      const blob = await client.fetch(`/v2/up.test/mirrored/app/blobs/${layers[0]!.digest}`);
      assert.equal(blob.status, 200);
      await blob.arrayBuffer();
    } finally {
      await mirror?.stop();
      await upstream.stop();
    }
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    const CLIENT = 3;
    for (const route of ['/v2/<name>/manifests/<reference>', '/v2/<name>/blobs/<digest>']) {
      const request = spans.find((s) => s.kind === SERVER && s.resource['service.name'] === 'mirror' && s.name === `GET ${route}`);
      assert.ok(request, `the mirror's span of GET ${route}: ${spans.map((s) => s.name).join(', ')}`);
      assert.equal(request.parentSpanId, clientSpan);
      const calls = childrenOf(spans, request).filter((s) => s.kind === CLIENT);
      assert.ok(calls.length >= 1, `upstream calls under GET ${route}`);
      for (const call of calls) {
        assert.match(call.name, /^(GET|HEAD) \/v2\/<name>\/(manifests|blobs)\//);
        assert.equal(call.attributes['server.address'], '127.0.0.1');
        assert.equal(call.attributes['http.response.status_code'], 200);
        const answered = spans.filter((s) => s.kind === SERVER && s.parentSpanId === call.spanId);
        assert.equal(answered.length, 1, `the upstream's span under ${call.name}`);
        assert.equal(answered[0]!.resource['service.name'], 'upstream');
      }
    }
  });

  it('with tracing unset, nothing connects to the default collector port during a push and a pull, nor at the stop', async (t) => {
    // The OpenTelemetry exporters' default endpoint is localhost:4318 (either address family).
    const receivers: OtlpReceiver[] = [];
    const busy: string[] = [];
    for (const host of ['127.0.0.1', '::1']) {
      await startOtlpReceiver(4318, host).then(
        (r) => receivers.push(r),
        (err: NodeJS.ErrnoException) => busy.push(`${host}:4318 (${err.code})`),
      );
    }
    t.after(() => Promise.all(receivers.map((r) => r.close())));
    if (receivers.length === 0) {
      t.skip(`cannot listen on the default collector port: ${busy.join(', ')}; free port 4318 on loopback to run this test`);
      return;
    }
    const server = await serve(join(dir, 'off'), {});
    try {
      const client = new OciClient(server.url);
      const { layers } = await client.pushImage('untraced/app', 'v1', { layers: 1 });
      assert.equal((await client.fetch('/v2/untraced/app/manifests/v1')).status, 200);
      assert.equal((await client.fetch(`/v2/untraced/app/blobs/${layers[0]!.digest}`)).status, 200);
    } finally {
      await server.stop();
    }
    assert.deepEqual(receivers.map((r) => r.connections), receivers.map(() => 0), `connections to ${receivers.map((r) => r.url).join(', ')}`);
    assert.ok(!server.logs.some((l) => l.includes('tracing on')));
    const access = server.jsonLogs().filter((l) => l.msg === 'request');
    assert.ok(access.length >= 6 && access.every((l) => l.traceId === undefined), 'no trace id in the access lines');
  });
});
