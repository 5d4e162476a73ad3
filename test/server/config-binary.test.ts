/** The configuration through the real binary: `config check`, startup warnings, and limits enforced over HTTP. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchRaw, spawnServer, startServer } from '../../support/server-process.js';
import { expectError } from '../../support/http.js';
import { OciClient, randomBlob } from '../../support/oci-client.js';
import { htpasswdText } from '../auth/helpers.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-cfg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the binary to completion; resolves with its exit code and output (stdout and stderr lines). */
async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawnServer({ args, env });
  const status = await child.exited;
  return { code: status.code, output: child.logs.join('\n') };
}

const AUTH = (htpasswd: string) => `
auth:
  mode: basic
  htpasswd: ${htpasswd}
  groups: { devs: [alice, ghost] }
  admins: { users: [root], groups: [ops] }
  rules:
    - { repositories: ["team/**"], users: [alice, bob], groups: [devs, qa], actions: [pull, push] }
`;

test('config check FILE prints the effective configuration with secrets redacted, and its warnings; exit 2 when invalid', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'htpasswd'), htpasswdText({ alice: 'pw' }));
  const file = join(dir, 'config.yaml');
  await writeFile(
    file,
    `storage:\n  metadataUrl: "postgres://registry:hunter2@db.internal/registry?sslpassword=p4ss"\n  s3: { bucket: blobs, accessKeyId: AKID, secretAccessKey: s3cr3t-key }\nlimits: { maxUploadSize: 10GiB }\n${AUTH('htpasswd')}`,
  );
  const ok = await run(['config', 'check', file], { FERRO_OCI_MAX_UPLOAD_SESSIONS: '12' });
  assert.equal(ok.code, 0, ok.output);
  assert.match(ok.output, /valid/);
  assert.match(ok.output, /maxUploadSize: 10737418240/);
  assert.match(ok.output, /maxUploadSessions: 12/, 'the environment is applied');
  assert.match(ok.output, /maxManifestSize: 4194304/, 'defaults are shown');
  assert.match(ok.output, /metadataUrl: postgres:\/\/registry:\*\*\*@db\.internal\/registry/);
  assert.match(ok.output, /secretAccessKey: "\*\*\*"/);
  for (const secret of ['hunter2', 'p4ss', 's3cr3t-key']) assert.ok(!ok.output.includes(secret), `${secret} is not printed`);
  assert.match(ok.output, /warning: auth\.rules\[0\] names user "bob", who is not in the htpasswd file/);
  assert.match(ok.output, /warning: auth\.admins\.groups names group "ops"/);

  await writeFile(join(dir, 'bad.yaml'), 'limits:\n  maxUploadSize: -5\n');
  const bad = await run(['config', 'check', join(dir, 'bad.yaml')]);
  assert.equal(bad.code, 2);
  assert.match(bad.output, /limits\.maxUploadSize: must be a size in bytes .*\(from .*bad\.yaml\)/);
  const badEnv = await run(['config', 'check', file], { FERRO_OCI_MAX_PAGE_SIZE: 'many' });
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.output, /limits\.maxPageSize: must be an integer .*\(from FERRO_OCI_MAX_PAGE_SIZE\)/);
});

test('the server warns once at start about unknown users, groups and admins, and about an open registry', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'htpasswd'), htpasswdText({ alice: 'pw', root2: 'pw' }));
  await writeFile(join(dir, 'config.yaml'), AUTH('htpasswd'));
  const server = await startServer({ args: ['--config', join(dir, 'config.yaml')] });
  t.after(() => server.kill());
  const warnings = server.jsonLogs().filter((l) => l.level === 40).map((l) => String(l.msg));
  const expected = [
    /auth\.rules\[0\] names user "bob", who is not in the htpasswd file/,
    /auth\.rules\[0\] names group "qa", which auth\.groups does not define/,
    /auth\.admins\.users names user "root"/,
    /auth\.admins\.groups names group "ops"/,
    /auth\.groups\.devs names user "ghost"/,
  ];
  for (const re of expected) assert.equal(warnings.filter((m) => re.test(m)).length, 1, `${re} once in: ${warnings.join(' | ')}`);
  assert.ok(!warnings.some((m) => /"alice"|"devs"/.test(m)), 'known users and groups are not named');
  await server.stop();

  await writeFile(join(dir, 'empty.yaml'), '');
  const open = await startServer({ env: { FERRO_OCI_CONFIG: join(dir, 'empty.yaml') } });
  t.after(() => open.kill());
  const openWarnings = open.jsonLogs().filter((l) => l.level === 40 && /has no auth section: the registry is open/.test(String(l.msg)));
  assert.equal(openWarnings.length, 1);
  await open.stop();
});

test('configured limits are enforced over HTTP with the spec errors', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'config.yaml'), 'auth: {mode: none}\nlimits:\n  maxManifestSize: 1KiB\n  maxPageSize: 2\n');
  const server = await startServer({
    args: ['--config', join(dir, 'config.yaml'), '--max-upload-size', '2048'],
    env: { FERRO_OCI_MAX_UPLOAD_SESSIONS: '1' },
  });
  t.after(() => server.kill());
  const client = new OciClient(server.url);
  for (const tag of ['a', 'b', 'c']) await client.pushImage('limits/app', tag, { layers: 1, layerSize: 100 });

  // spec "Listing Tags": pages cut at maxPageSize, with a Link to the rest.
  for (const query of ['', '?n=100']) {
    const page = await fetchRaw(`${server.url}/v2/limits/app/tags/list${query}`);
    assert.equal(page.status, 200);
    assert.deepEqual((page.json() as { tags: string[] }).tags, ['a', 'b']);
    assert.match(String(page.headers.link), /n=2&last=b/);
  }

  // spec "Pushing Manifests": a manifest over the limit gets 413.
  const big = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { pad: 'x'.repeat(1100) } };
  await expectError(await client.putManifest('limits/app', 'big', big), 413, 'SIZE_INVALID');

  // Upload sessions: one open at most (429 TOOMANYREQUESTS), 2048 bytes per upload (413 SIZE_INVALID).
  const open = await fetchRaw(`${server.url}/v2/limits/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(open.status, 202);
  await expectError(await fetch(`${server.url}/v2/limits/other/blobs/uploads/`, { method: 'POST' }), 429, 'TOOMANYREQUESTS');
  const location = new URL(String(open.headers.location), server.url);
  const chunk = await fetch(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: randomBlob(4096) });
  await expectError(chunk, 413, 'SIZE_INVALID');
  await server.stop();
});
