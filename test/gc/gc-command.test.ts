/**
 * `ferro-oci-server gc` (the binary) on a storage directory, and the
 * server's background collection configured by the `gc` section of its
 * configuration file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry } from '../../support/registry.js';
import { blobFile, runCheck } from '../../support/durability.js';
import { spawnServer, startServer } from '../../support/server-process.js';

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawnServer({ args, env });
  const status = await child.exited;
  return { code: status.code, output: child.logs.join('\n') };
}

const exists = async (path: string) => (await stat(path).catch(() => undefined)) !== undefined;

describe('ferro-oci-server gc', () => {
  let work: string;
  let dir: string;
  let orphan: string;
  let live: Awaited<ReturnType<OciClient['pushImage']>>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ferro-gc-cmd-'));
    dir = join(work, 'data');
    const registry = await startRegistry('disk', { dir });
    try {
      const client = new OciClient(registry.url);
      live = await client.pushImage('app', 'v1', { layers: 2 });
      orphan = await client.pushBlob('app', randomBytes(4321));
      assert.equal((await client.fetch(`/v2/app/blobs/${orphan}`, { method: 'DELETE' })).status, 202);
    } finally {
      await registry.stop();
    }
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('refuses bad usage with exit 2 and prints help', async () => {
    assert.equal((await run(['gc', '--help'])).code, 0);
    assert.match((await run(['gc', '--help'])).output, /Usage: ferro-oci-server gc/);
    assert.match((await run(['--help'])).output, /ferro-oci-server gc +collects garbage/);
    const cases: Array<[string[], RegExp]> = [
      [['gc'], /gc needs the registry's storage/],
      [['gc', '--storage-dir', join(work, 'nope')], /is not a storage directory/],
      [['gc', '--storage-dir', dir, '--grace', 'soon'], /invalid --grace/],
      [['gc', '--storage-dir', dir, '--bogus'], /bogus/],
    ];
    for (const [args, re] of cases) {
      const { code, output } = await run(args);
      assert.equal(code, 2, `${args.join(' ')}: ${output}`);
      assert.match(output, re);
    }
    const badConfig = join(work, 'bad.yaml');
    await writeFile(badConfig, 'gc:\n  graceSeconds: -5\n');
    const bad = await run(['gc', '--storage-dir', dir, '--config', badConfig]);
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.output, /gc\.graceSeconds: must be a number of seconds/);
  });

  it('a dry run reports and deletes nothing; the grace period keeps young blobs; a run deletes the orphan only', async () => {
    const dry = await run(['gc', '--storage-dir', dir, '--dry-run', '--grace', '0']);
    assert.equal(dry.code, 0, dry.output);
    assert.match(dry.output, /dry run: scanned 4 blobs, would delete 1 \(4321 bytes\), kept 3/);
    assert.ok(await exists(blobFile(dir, orphan)));

    const young = await run(['gc'], { FERRO_OCI_STORAGE_DIR: dir });
    assert.equal(young.code, 0, young.output);
    assert.match(young.output, /scanned 4 blobs, deleted 0 \(0 bytes\), kept 4 in \d+ ms \(grace 3600 s\)/);
    assert.match(young.output, /removed 0 expired upload sessions and 0 orphaned upload data/);

    const config = join(work, 'config.yaml');
    await writeFile(config, 'gc:\n  graceSeconds: 0\n');
    const real = await run(['gc', '--storage-dir', dir, '--config', config]);
    assert.equal(real.code, 0, real.output);
    assert.match(real.output, /scanned 4 blobs, deleted 1 \(4321 bytes\), kept 3/);
    assert.equal(await exists(blobFile(dir, orphan)), false);
    for (const d of [live.configDigest, ...live.layers.map((l) => l.digest)]) assert.ok(await exists(blobFile(dir, d)), d);
    assert.match((await run(['gc', '--storage-dir', dir, '--grace', '0'])).output, /deleted 0 \(0 bytes\)/);
    assert.equal((await runCheck(['--storage-dir', dir])).code, 0);
  });

  it('the server collects in the background as its configuration file says', async () => {
    const config = join(work, 'server.yaml');
    await writeFile(config, 'gc:\n  intervalSeconds: 0.2\n  graceSeconds: 0\n');
    const server = await startServer({ env: { FERRO_OCI_STORAGE_DIR: dir }, args: ['--config', config] });
    try {
      const client = new OciClient(server.url);
      // A blob no manifest references, with a receipt older than the grace (0 s): its link is reclaimed, then its content.
      const digest = await client.pushBlob('bg', randomBytes(999));
      for (let i = 0; i < 100 && (await exists(blobFile(dir, digest))); i++) await sleep(50);
      assert.equal(await exists(blobFile(dir, digest)), false, 'collected by the background run');
      const line = await server.waitForLog((l) => typeof l.gc === 'object' && (l.gc as { deleted: number }).deleted === 1);
      assert.match(String(line.msg), /removed 1 blob links no manifest references; scanned \d+ blobs, deleted 1 \(999 bytes\)/);
    } finally {
      await server.stop();
    }
    // Immutable tags and retention from the same file.
    await writeFile(config, 'gc:\n  intervalSeconds: 0\nimmutableTags:\n  - repositories: ["app"]\n    tags: ["v*"]\n');
    const again = await startServer({ env: { FERRO_OCI_STORAGE_DIR: dir }, args: ['--config', config] });
    try {
      const client = new OciClient(again.url);
      const res = await client.putManifest('app', 'v1', Buffer.from(JSON.stringify({ ...JSON.parse(live.bytes.toString()), annotations: { other: 'x' } })));
      assert.equal(res.status, 409, await res.text());
    } finally {
      await again.stop();
    }
    await writeFile(config, 'gc:\n  intervalSeconds: often\n');
    const bad = await run(['--config', config], { FERRO_OCI_STORAGE_DIR: dir });
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.output, /gc\.intervalSeconds: must be a number of seconds/);
  });
});
