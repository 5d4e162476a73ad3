/**
 * Retention (retention rules): the N most recent tags and the tags set within
 * a window are kept, excepted and immutable tags always; the rest go with the
 * manifests they leave untagged (an index with its children, referrers with
 * their subject) and the blobs only those used. Dry runs list what would go,
 * from POST /admin/gc and from `ferro-oci-server gc --dry-run --config`.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectGarbage } from '../../src/services/gc.js';
import { StoragePolicy } from '../../src/services/policy.js';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry, STORAGE_KINDS, type TestRegistry } from '../../support/registry.js';
import { spawnServer } from '../../support/server-process.js';
import { adminGc, blobStatus, image, index, manifestStatus, referrer, type Pushed } from './images.js';

const HOUR = 3600_000;
const RULES = {
  retention: [
    { repositories: ['apps/**'], keepLast: 2, exceptTags: ['latest', 'stable*'] },
    { repositories: ['window/**'], keepWithinMs: HOUR },
    { repositories: ['both/**'], keepLast: 1, keepWithinMs: HOUR },
  ],
  immutableTags: [{ repositories: ['apps/**'], tags: ['v*'] }],
};

/** Pushes one image per tag, in order, a few ms apart so that their times differ. */
async function tagged(client: OciClient, repo: string, tags: string[]): Promise<Map<string, Pushed>> {
  const out = new Map<string, Pushed>();
  for (const tag of tags) {
    out.set(tag, await image(client, repo, tag));
    await sleep(3);
  }
  return out;
}

for (const kind of STORAGE_KINDS) {
  describe(`retention [${kind}]`, () => {
    let registry: TestRegistry;
    let client: OciClient;
    before(async () => {
      registry = await startRegistry(kind, { gc: { intervalMs: 0, graceMs: 0 }, storagePolicy: RULES });
      client = new OciClient(registry.url);
    });
    after(() => registry.close());
    const tagsOf = async (repo: string) => ((await (await client.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags.sort();

    it('keeps the last N tags plus excepted and immutable ones; a dry run lists what would go', async () => {
      const images = await tagged(client, 'apps/web', ['v1', 'old1', 'old2', 'stable-2', 'old3', 'new1', 'latest', 'new2']);
      const dry = await adminGc(client, true);
      assert.deepEqual(dry.manifests?.tags.map((t) => t.tag).sort(), ['old1', 'old2', 'old3']);
      assert.deepEqual(dry.manifests?.manifests.map((m) => m.digest).sort(), ['old1', 'old2', 'old3'].map((t) => images.get(t)!.digest).sort());
      assert.deepEqual(await tagsOf('apps/web'), ['latest', 'new1', 'new2', 'old1', 'old2', 'old3', 'stable-2', 'v1'], 'a dry run removes nothing');

      if (registry.dir) {
        const config = join(registry.dir, 'retention.yaml');
        await writeFile(config, 'retention:\n  - repositories: ["apps/**"]\n    keepLast: 2\n    exceptTags: ["latest", "stable*"]\nimmutableTags:\n  - repositories: ["apps/**"]\n    tags: ["v*"]\n');
        const cli = spawnServer({ args: ['gc', '--dry-run', '--grace', '0', '--storage-dir', registry.dir, '--config', config] });
        assert.equal((await cli.exited).code, 0, cli.logs.join('\n'));
        const out = cli.logs.join('\n');
        for (const t of ['old1', 'old2', 'old3']) assert.match(out, new RegExp(`would remove tag apps/web:${t} \\(${images.get(t)!.digest}\\)`));
        assert.match(out, /retention and untagged policy: 1 repositories, would remove 3 tags and 3 manifests/);
      }

      const report = await adminGc(client);
      assert.equal(report.manifests?.tagsRemoved, 3);
      assert.deepEqual(await tagsOf('apps/web'), ['latest', 'new1', 'new2', 'stable-2', 'v1']);
      for (const t of ['old1', 'old2', 'old3']) {
        const gone = images.get(t)!;
        assert.equal(await manifestStatus(client, 'apps/web', gone.digest), 404);
        for (const b of gone.blobs) assert.equal(await blobStatus(client, 'apps/web', b), 404);
        for (const b of gone.blobs) assert.equal(await registry.blobStore.stat(b), undefined, 'collected in the same run (grace 0)');
      }
      assert.equal((await adminGc(client)).manifests?.tagsRemoved, 0, 'stable');
    });

    it('a manifest still tagged, or referenced by a kept index, stays; an index goes with its children and referrers', async () => {
      const shared = await image(client, 'apps/multi');
      const [a, b] = [await image(client, 'apps/multi'), await image(client, 'apps/multi')];
      const oldIndex = await index(client, 'apps/multi', [a, shared], 'old');
      const sig = await referrer(client, 'apps/multi', oldIndex);
      await sleep(3);
      const alias = await image(client, 'apps/multi', 'alias-old');
      await client.putManifest('apps/multi', 'alias-new', await (await client.fetch(`/v2/apps/multi/manifests/${alias.digest}`)).arrayBuffer());
      await sleep(3);
      await index(client, 'apps/multi', [b, shared], 'new1');
      await sleep(3);
      await image(client, 'apps/multi', 'new2');
      await adminGc(client);
      // keepLast 2 keeps new2 and new1; alias-old and alias-new went, old too.
      assert.equal(await manifestStatus(client, 'apps/multi', oldIndex.digest), 404);
      assert.equal(await manifestStatus(client, 'apps/multi', a.digest), 404, 'a child only the removed index used');
      assert.equal(await manifestStatus(client, 'apps/multi', sig.digest), 404, 'a referrer of the removed index');
      assert.equal(await manifestStatus(client, 'apps/multi', shared.digest), 200, 'still a child of new1');
      assert.equal(await manifestStatus(client, 'apps/multi', b.digest), 200);
      assert.equal(await manifestStatus(client, 'apps/multi', alias.digest), 404);
    });

    it('keepWithin keeps recent tags; with keepLast too, a tag either keeps is kept', async () => {
      await tagged(client, 'window/app', ['w1', 'w2']);
      await tagged(client, 'both/app', ['b1', 'b2', 'b3']);
      const later = (ms: number) => () => Date.now() + ms;
      const policy = new StoragePolicy(RULES);
      const run = (ms: number) => collectGarbage(registry, { graceMs: 0, policy, now: later(ms) });
      await run(0);
      assert.deepEqual(await tagsOf('window/app'), ['w1', 'w2']);
      assert.deepEqual(await tagsOf('both/app'), ['b1', 'b2', 'b3']);
      const report = await run(2 * HOUR);
      assert.deepEqual(await tagsOf('window/app'), [], 'older than the window');
      assert.deepEqual(await tagsOf('both/app'), ['b3'], 'the last one');
      assert.equal(report.manifests?.tagsRemoved, 4);
    });
  });
}
