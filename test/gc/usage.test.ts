/** Storage usage per repository: the /metrics gauge (capped series) and `ferro-oci-server usage`. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { createRegistryServer } from '../../src/server/app.js';
import { MemoryBlobStore } from '../../src/storage/blob/memory.js';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry } from '../../support/registry.js';
import { spawnServer } from '../../support/server-process.js';

/** Pushes blobs of the given sizes into `repo` (returns their total). */
async function fill(client: OciClient, repo: string, blobs: Buffer[]): Promise<number> {
  for (const b of blobs) await client.pushBlob(repo, b);
  return blobs.reduce((n, b) => n + b.length, 0);
}

describe('repository usage', () => {
  it('/metrics: one series per repository for the largest, the rest summed in "(other)"; shared blobs count in each', async () => {
    const app = await createRegistryServer({
      blobStore: new MemoryBlobStore(),
      metadataStore: new MemoryMetadataStore(),
      gc: false,
      sweepIntervalMs: 0,
      metrics: { repositoryUsage: { top: 2, refreshMs: 0 } },
    });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address() as { port: number };
      const client = new OciClient(`http://127.0.0.1:${address.port}`);
      const shared = randomBytes(5000);
      await fill(client, 'big', [shared, randomBytes(10_000), shared]); // the same blob twice counts once
      await fill(client, 'mid', [shared, randomBytes(1000)]);
      await fill(client, 'small/a', [randomBytes(100)]);
      await fill(client, 'small/b', [randomBytes(200)]);
      const text = await (await client.fetch('/metrics')).text();
      const series = text.split('\n').filter((l) => l.startsWith('ferro_oci_repository_blob_bytes{'));
      assert.deepEqual(series.sort(), [
        'ferro_oci_repository_blob_bytes{repository="(other)"} 300',
        'ferro_oci_repository_blob_bytes{repository="big"} 15000',
        'ferro_oci_repository_blob_bytes{repository="mid"} 6000',
      ]);
      assert.match(text, /# HELP ferro_oci_repository_blob_bytes .*The 2 largest repositories only/);
    } finally {
      await app.close();
    }
  });

  it('ferro-oci-server usage prints the repositories largest first, as a table or JSON', async () => {
    const registry = await startRegistry('disk');
    const dir = registry.dir!;
    try {
      const client = new OciClient(registry.url);
      const shared = randomBytes(2048);
      await fill(client, 'team/app', [shared, randomBytes(4096)]);
      await fill(client, 'team/lib', [shared]);
      await client.pushImage('team/lib', 'v1', { layers: 1, layerSize: 100 });
    } finally {
      await registry.stop();
    }
    try {
      const run = async (args: string[]) => {
        const child = spawnServer({ args: ['usage', ...args] });
        return { code: (await child.exited).code, output: child.logs.join('\n') };
      };
      const table = await run(['--storage-dir', dir]);
      assert.equal(table.code, 0, table.output);
      const lines = table.output.split('\n');
      assert.match(lines[0]!, /^repository\s+blobs\s+manifests\s+size\s+bytes$/);
      assert.match(lines[1]!, /^team\/app\s+2\s+0\s+6\.0 KiB\s+6144$/);
      assert.match(lines[2]!, /^team\/lib\s+3\s+1\s+2\.\d KiB\s+\d+$/);
      assert.match(table.output, /2 repositories; 4 distinct blobs linked/);
      const json = await run(['--storage-dir', dir, '--json', '--top', '1']);
      assert.equal(json.code, 0, json.output);
      const parsed = JSON.parse(json.output) as { repositories: { repository: string; bytes: number; blobs: number }[]; totals: { repositories: number } };
      assert.deepEqual(parsed.repositories.map((r) => [r.repository, r.blobs, r.bytes]), [['team/app', 2, 6144]]);
      assert.equal(parsed.totals.repositories, 2);
      assert.equal((await run(['--storage-dir', dir, '--top', '0'])).code, 2);
      assert.equal((await run(['--storage-dir', `${dir}/nope`])).code, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
