/**
 * /metrics and private repositories (issue 11 item 9: the old server listed
 * repository_blob_bytes{repository="private/x"} to anonymous callers): with
 * auth on, repository-labelled series stay off the public listener unless
 * asked for, and a separate listener serves /metrics and the probes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basic, call, htpasswdText, pushBlob, startAuthRegistry, type AuthRegistry } from '../auth/helpers.js';
import { createOperationsServer } from '../../src/server/app.js';
import { startServer } from '../../support/server-process.js';

const SERIES = /^ferro_oci_repository_blob_bytes\{repository="private\/x"\}/m;

describe('repository metrics with auth on', () => {
  let reg: AuthRegistry;
  before(async () => {
    reg = await startAuthRegistry({ mode: 'basic', server: true });
    await pushBlob(reg, 'private/x', Buffer.from('secret bytes'), basic('admin'));
  });
  after(() => reg.close());

  it('the public /metrics names no repository', async () => {
    const res = await call(reg, 'GET', '/metrics');
    assert.equal(res.status, 200);
    const text = res.body.toString();
    assert.match(text, /^ferro_oci_http_requests_total\{/m);
    assert.doesNotMatch(text, /repository="/);
  });
});

describe('a separate listener for /metrics and the probes', () => {
  it('serves the repository series there, and only the operational endpoints', async (t) => {
    const reg = await startAuthRegistry({ mode: 'basic', server: true });
    t.after(() => reg.close());
    await pushBlob(reg, 'private/x', Buffer.from('secret bytes'), basic('admin'));
    const ops = await createOperationsServer(reg.app);
    t.after(() => ops.close());
    await ops.listen({ host: '127.0.0.1', port: 0 });
    const address = ops.server.address();
    assert.ok(address !== null && typeof address === 'object');
    const opsUrl = { url: `http://127.0.0.1:${address.port}` };
    // the public server was built with the default (public /metrics), so repository series are off in the shared register
    assert.doesNotMatch((await call(opsUrl, 'GET', '/metrics')).body.toString(), SERIES);
    for (const path of ['/live', '/ready', '/healthz']) assert.equal((await call(opsUrl, 'GET', path)).status, 200, path);
    assert.equal((await call(opsUrl, 'GET', '/v2/')).status, 404);
    assert.equal((await call(opsUrl, 'POST', '/admin/gc')).status, 404);
  });

  it('the binary: --metrics-listen moves /metrics there with the repository series; the main listener has none', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-metrics-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'htpasswd'), htpasswdText());
    await writeFile(join(dir, 'config.yaml'), 'auth:\n  mode: basic\n  htpasswd: htpasswd\n  admins: { users: [admin] }\n');
    const server = await startServer({ args: ['--config', join(dir, 'config.yaml'), '--metrics-listen', '127.0.0.1:0'] });
    t.after(() => server.stop());
    const line = await server.waitForLog((l) => l.msg === 'metrics listening');
    const ops = { url: `http://127.0.0.1:${String(line.port)}` };
    await pushBlob(server, 'private/x', Buffer.from('secret bytes'), basic('admin'));
    const metrics = await call(ops, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body.toString(), SERIES);
    assert.equal((await call(ops, 'GET', '/ready')).status, 200);
    assert.equal((await call(server, 'GET', '/metrics')).status, 401, 'no /metrics route on the main listener: unmatched, login needed');
    assert.equal((await call(server, 'GET', '/metrics', { authorization: basic('alice') })).status, 404);
    assert.equal((await call(server, 'GET', '/live')).status, 200, 'probes stay on the main listener too');
  });

  it('the binary without --metrics-listen: auth on keeps repository series off /metrics unless --public-repository-metrics', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-metrics-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'htpasswd'), htpasswdText());
    await writeFile(join(dir, 'config.yaml'), 'auth:\n  mode: basic\n  htpasswd: htpasswd\n  admins: { users: [admin] }\n');
    for (const [args, listed] of [[[], false], [['--public-repository-metrics', 'true'], true]] as const) {
      const server = await startServer({ args: ['--config', join(dir, 'config.yaml'), ...args] });
      try {
        await pushBlob(server, 'private/x', Buffer.from('secret bytes'), basic('admin'));
        const text = (await call(server, 'GET', '/metrics')).body.toString();
        if (listed) assert.match(text, SERIES);
        else assert.doesNotMatch(text, /repository="/);
      } finally {
        await server.stop();
      }
    }
  });
});
