/**
 * Configuration reload without a restart (src/server/reload.ts), on the real
 * binary: SIGHUP under a push/pull workload, an invalid file, a Kubernetes
 * secret volume swap and an editor's rename-replace (no signal), and the
 * collection and retention settings.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import { kubernetesVolume, replaceFile } from '../../support/config-files.js';
import { Workload } from '../../support/outage.js';
import { fetchRaw, startServer, type RunningServer } from '../../support/server-process.js';
import { basic, bearer, call, htpasswdText, tokenFor, SERVICE } from '../auth/helpers.js';

const PASSWORDS = { alice: 'alice-pass', bob: 'bob-pass', dave: 'dave-pass' } as const;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** The value of an unlabelled series (or the labelled one `series` names) in the server's /metrics. */
async function metric(server: RunningServer, series: string): Promise<number> {
  const text = (await fetchRaw(`${server.url}/metrics`)).body.toString('utf8');
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is not in /metrics`);
  return Number(line.slice(series.length + 1));
}

/** Resolves with the next log line (after those already logged) that `match` accepts. */
function nextLog(server: RunningServer, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const seen = new Set(server.jsonLogs().map((l) => JSON.stringify(l)));
  return server.waitForLog((line) => match(line) && !seen.has(JSON.stringify(line)));
}

const reloaded = (trigger: string) => (l: Record<string, unknown>) => l.msg === 'configuration reloaded' && l.trigger === trigger;

const basicConfig = (rules: string[]) => ['auth:', '  mode: basic', '  htpasswd: htpasswd', '  rules:', ...rules.map((r) => `    - ${r}`)].join('\n');

const pushStatus = async (server: RunningServer, repo: string, user: keyof typeof PASSWORDS) =>
  (await call(server, 'POST', `/v2/${repo}/blobs/uploads/`, { authorization: basic(user, PASSWORDS[user]) })).status;

describe('configuration reload', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferro-oci-reload-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('SIGHUP under a push/pull workload adds a user and changes a rule; no request fails', async (t) => {
    const at = join(dir, 'sighup');
    await mkdir(at);
    await writeFile(join(at, 'htpasswd'), htpasswdText({ alice: PASSWORDS.alice, bob: PASSWORDS.bob }));
    const config = join(at, 'config.yaml');
    const alice = '{ repositories: ["load/**"], users: [alice], actions: [pull, push] }';
    await writeFile(config, basicConfig([alice, '{ repositories: ["old/**"], users: [bob], actions: [pull, push] }']));
    // debug: the "request received" line tells when the in-flight push below has arrived.
    const server = await startServer({ args: ['--config', config], env: { FERRO_OCI_STORAGE_DIR: join(at, 'data'), FERRO_OCI_LOG_LEVEL: 'debug' } });
    t.after(() => server.stop());

    const workload = new Workload(server.url, { headers: { authorization: basic('alice', PASSWORDS.alice) }, repositoryPrefix: 'load' });
    workload.start();
    t.after(() => workload.stop());
    const acked = async (n: number) => {
      while (workload.acked.manifests.length < n) await sleep(20);
    };
    await acked(3);
    assert.equal(await pushStatus(server, 'new/app', 'dave'), 401, 'dave does not exist yet');
    assert.equal(await pushStatus(server, 'old/app', 'bob'), 202);

    // A push by bob to old/app in flight across the reload: admitted before it, it completes after it.
    const blob = randomBytes(64 * 1024);
    const inFlight = request(`${server.url}/v2/old/app/blobs/uploads/?digest=${digestOf(blob)}`, {
      method: 'POST',
      headers: { authorization: basic('bob', PASSWORDS.bob), 'content-type': 'application/octet-stream', 'content-length': blob.length },
    });
    const answered = new Promise<number>((resolve, reject) => {
      inFlight.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      inFlight.on('error', reject);
    });
    const admitted = server.waitForLog((l) => l.msg === 'request received' && String(l.path).startsWith('/v2/old/app/blobs/uploads/?digest='));
    inFlight.write(blob.subarray(0, 1024));
    await admitted;
    await sleep(300); // the auth hook runs right after the request is logged

    await replaceFile(join(at, 'htpasswd'), htpasswdText(PASSWORDS));
    await replaceFile(config, basicConfig([alice, '{ repositories: ["new/**"], users: [bob, dave], actions: [pull, push] }']));
    const done = nextLog(server, reloaded('SIGHUP'));
    server.child.kill('SIGHUP');
    const line = await done;
    assert.equal(line.users, 3);
    inFlight.end(blob.subarray(1024));
    assert.equal(await answered, 201, 'the push admitted before the reload completes');
    // More reloads while the workload runs, so that some land mid-request (uploads span two requests).
    for (let i = 0; i < 5; i++) {
      const again = nextLog(server, reloaded('SIGHUP'));
      server.child.kill('SIGHUP');
      await again;
      await sleep(50);
    }

    assert.equal(await pushStatus(server, 'new/app', 'dave'), 202, 'the new user pushes where the new rule allows');
    assert.equal(await pushStatus(server, 'new/app', 'bob'), 202);
    assert.equal(await pushStatus(server, 'old/app', 'bob'), 403, "the old rule's access is gone");
    await acked(workload.acked.manifests.length + 5);
    await workload.stop();

    const failed = workload.answers.filter((a) => typeof a.status !== 'number' || a.status >= 400);
    assert.deepEqual(failed, [], 'no workload request failed');
    assert.ok(workload.answers.length >= 30, `only ${workload.answers.length} workload requests`);
    assert.equal(await metric(server, 'ferro_oci_config_reload_success'), 1);
    assert.ok((await metric(server, 'ferro_oci_config_reloads_total{result="success"}')) >= 6);
    t.diagnostic(`${workload.answers.length} workload requests across 6 reloads: ${JSON.stringify(workload.counts('before'))}`);
  });

  it('an invalid file keeps the previous configuration, logs why and sets the metric to 0; the fix sets it back to 1', async (t) => {
    const at = join(dir, 'invalid');
    await mkdir(at);
    await writeFile(join(at, 'htpasswd'), htpasswdText({ alice: 'alice-pass' }));
    const config = join(at, 'config.yaml');
    const token = (service: string) => `  token: { service: ${service}, issuer: ferro, keyFile: token.pem }`;
    const file = (service: string, rules: string[]) => ['auth:', '  mode: token', '  htpasswd: htpasswd', token(service), '  rules:', ...rules.map((r) => `    - ${r}`)].join('\n');
    const teamRule = '{ repositories: ["team/**"], users: [alice], actions: [pull, push] }';
    await writeFile(config, file(SERVICE, [teamRule]));
    const server = await startServer({ args: ['--config', config] });
    t.after(() => server.stop());
    assert.equal(await metric(server, 'ferro_oci_config_reload_success'), 1);
    const startedAt = await metric(server, 'ferro_oci_config_last_reload_timestamp_seconds');
    assert.ok(startedAt > 0);

    const failed = nextLog(server, (l) => l.msg?.toString().startsWith('configuration reload failed') === true);
    await writeFile(config, file(SERVICE, ['{ repositories: ["team/**"], users: [alice], actions: [pul] }']));
    server.child.kill('SIGHUP');
    const error = await failed;
    assert.equal(error.level, 50);
    assert.match(String(error.reason), /^auth\.rules\[0\]\.actions\[0\]: must be one of pull, push, delete \(from .*config\.yaml\)$/);
    assert.equal(await metric(server, 'ferro_oci_config_reload_success'), 0);
    assert.equal(await metric(server, 'ferro_oci_config_last_reload_timestamp_seconds'), startedAt, 'the configuration in effect is still the one from the start');
    assert.ok((await metric(server, 'ferro_oci_config_reloads_total{result="failure"}')) >= 1);
    const aliceToken = await tokenFor(server, 'alice', 'repository:team/app:pull,push');
    assert.equal((await call(server, 'POST', '/v2/team/app/blobs/uploads/', { authorization: bearer(aliceToken) })).status, 202, 'the previous rules still apply');

    // The fix adds a user and a rule, and changes a setting only a restart applies.
    await writeFile(join(at, 'htpasswd'), htpasswdText({ alice: 'alice-pass', carol: 'carol-pass' }));
    const fixed = nextLog(server, (l) => l.msg === 'configuration reloaded');
    const restart = nextLog(server, (l) => l.level === 40 && /needs a restart/.test(String(l.msg)));
    await writeFile(config, file('elsewhere.test', [teamRule, '{ repositories: ["ops/**"], users: [carol], actions: [pull, push] }']));
    server.child.kill('SIGHUP');
    await fixed;
    assert.deepEqual((await restart).settings, ['auth.token.service']);
    assert.equal(await metric(server, 'ferro_oci_config_reload_success'), 1);
    assert.ok((await metric(server, 'ferro_oci_config_last_reload_timestamp_seconds')) > startedAt);
    const carolToken = await tokenFor(server, 'carol', 'repository:ops/app:pull,push'); // still the service the server started with
    assert.equal((await call(server, 'POST', '/v2/ops/app/blobs/uploads/', { authorization: bearer(carolToken) })).status, 202);
  });

  it('Kubernetes volume updates (..data symlink swaps) of the htpasswd Secret and of the ConfigMap are picked up without a signal', async (t) => {
    // As the chart mounts them: the configuration from a ConfigMap volume, the htpasswd file from a Secret volume beside it.
    const at = join(dir, 'kubernetes');
    await mkdir(join(at, 'config'), { recursive: true });
    await mkdir(join(at, 'secret'));
    const rules = (...who: string[]) =>
      ['auth:', '  mode: basic', `  htpasswd: ${join(at, 'secret', 'htpasswd')}`, '  rules:', `    - { repositories: ["k8s/**"], users: [${who.join(', ')}], actions: [pull, push] }`].join('\n');
    const configMap = await kubernetesVolume(join(at, 'config'), { 'config.yaml': rules('alice', 'dave') });
    const secret = await kubernetesVolume(join(at, 'secret'), { htpasswd: htpasswdText({ alice: PASSWORDS.alice }) });
    const server = await startServer({ args: ['--config', join(at, 'config', 'config.yaml')] });
    t.after(() => server.stop());
    assert.equal(await pushStatus(server, 'k8s/app', 'alice'), 202);
    assert.equal(await pushStatus(server, 'k8s/app', 'dave'), 401);

    let done = nextLog(server, reloaded('file change'));
    await secret.update({ htpasswd: htpasswdText({ alice: PASSWORDS.alice, dave: PASSWORDS.dave }) });
    assert.equal((await done).users, 2);
    assert.equal(await pushStatus(server, 'k8s/app', 'dave'), 202, 'the new user from the Secret');

    done = nextLog(server, reloaded('file change'));
    await configMap.update({ 'config.yaml': rules('dave') });
    await done;
    assert.equal(await pushStatus(server, 'k8s/app', 'alice'), 403, 'the rule from the ConfigMap');
    assert.equal(await pushStatus(server, 'k8s/app', 'dave'), 202);
  });

  it('collection and retention settings reload: grace, schedule, retention and immutable tags', async (t) => {
    const at = join(dir, 'upkeep');
    await mkdir(at);
    const config = join(at, 'config.yaml');
    await writeFile(config, 'gc: { intervalSeconds: 0, graceSeconds: 3600 }\n');
    const server = await startServer({ args: ['--config', config], env: { FERRO_OCI_STORAGE_DIR: join(at, 'data') } });
    t.after(() => server.stop());
    const client = new Workload(server.url);
    for (const tag of ['t0', 't1', 't2']) assert.ok(await client.pushImage('ret/app', tag));
    assert.ok(await client.pushImage('rel/app', 'v1'));
    const dryRun = (await fetchRaw(`${server.url}/admin/gc?dryRun=true`, { method: 'POST' })).json() as { graceMs: number; manifests?: unknown };
    assert.equal(dryRun.graceMs, 3_600_000);
    assert.equal(dryRun.manifests, undefined, 'no retention rule yet');

    // An editor's rename-replace, no signal.
    const done = nextLog(server, reloaded('file change'));
    const updated = [
      'gc: { intervalSeconds: 1, graceSeconds: 0 }',
      'retention:',
      '  - { repositories: ["ret/**"], keepLast: 1 }',
      'immutableTags:',
      '  - { repositories: ["rel/**"] }',
    ].join('\n');
    await replaceFile(config, updated);
    const line = await done;
    assert.equal(line.retention, 1);
    assert.equal(line.immutableTags, 1);

    const other = client.acked.manifests.find((m) => m.repo === 'ret/app')!;
    const put = await fetchRaw(`${server.url}/v2/rel/app/manifests/v1`, { method: 'PUT', headers: { 'content-type': MANIFEST }, body: other.bytes });
    assert.equal(put.status, 409, 'v1 became immutable');
    // The background schedule (1 s now) runs with the new grace and retention.
    const run = await nextLog(server, (l) => typeof l.gc === 'object' && l.msg !== 'garbage collection run on request');
    const report = run.gc as { graceMs: number; manifests?: { tagsRemoved: number } };
    assert.equal(report.graceMs, 0);
    assert.equal(report.manifests?.tagsRemoved, 2);
    const tags = (await fetchRaw(`${server.url}/v2/ret/app/tags/list`)).json() as { tags: string[] };
    assert.equal(tags.tags.length, 1);
  });
});
