/**
 * The web UI's first page with 10,000 repositories, in chromium: the page,
 * its script and one data request, and the page shows the first 25
 * repositories with their tag counts and sizes. The repositories are written
 * through the MetadataStore port (10,000 pushes over HTTP would take
 * minutes): in memory by default, in SQLite (about 75 s of seeding on the
 * development machine) with FERRO_OCI_UI_SCALE_STORE=disk. The time to
 * render is printed, not judged.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import { createRegistryServer } from '../../src/server/app.js';
import type { MetadataStore } from '../../src/storage/meta/types.js';
import { browserMissing, launchBrowser, screenshot, type TestBrowser } from '../../support/browser.js';
import { openStores, type StorageKind } from '../../support/registry.js';

const REPOSITORIES = 10_000;
const STORE: StorageKind = process.env.FERRO_OCI_UI_SCALE_STORE === 'disk' ? 'disk' : 'memory';

async function seed(meta: MetadataStore, count: number): Promise<void> {
  const blob = { digest: digestOf(Buffer.from('layer')), size: 5 };
  const now = meta.clock();
  for (let i = 0; i < count; i++) {
    const repository = `team-${String(i % 100).padStart(3, '0')}/service-${String(i).padStart(5, '0')}`;
    await meta.linkBlob(repository, blob, now);
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', ...blob }, layers: [] }));
    const result = await meta.putManifest({ repository, digest: digestOf(bytes), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes, tags: ['latest'], blobs: [blob], manifests: [], now });
    assert.ok(result.ok);
  }
}

describe('web UI with 10,000 repositories', { skip: browserMissing() }, () => {
  let stores: Awaited<ReturnType<typeof openStores>>;
  let server: Awaited<ReturnType<typeof createRegistryServer>>;
  let browser: TestBrowser;
  let url: string;

  before(async () => {
    stores = await openStores(STORE);
    const started = Date.now();
    await seed(stores.metadataStore, REPOSITORIES);
    process.stdout.write(`# seeded ${REPOSITORIES} repositories (${STORE}) in ${Date.now() - started} ms\n`);
    server = await createRegistryServer({ blobStore: stores.blobStore, metadataStore: stores.metadataStore, sweepIntervalMs: 0, gc: false });
    await server.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await stores?.blobStore.close();
    await stores?.metadataStore.close();
    if (stores?.dir) await rm(stores.dir, { recursive: true, force: true });
  });

  test('the first page: three requests, 25 rows of 10,000, and the last page', async () => {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url().replace(url, '')));
    const apiStarted = Date.now();
    assert.equal((await fetch(`${url}/v2/_ferro/ui/repositories`)).status, 200);
    process.stdout.write(`# the repositories request alone: ${Date.now() - apiStarted} ms\n`);
    const started = Date.now();
    await page.goto(`${url}/ui/`);
    await page.getByText(`${REPOSITORIES} repositories, by name`).waitFor();
    const elapsed = Date.now() - started;
    process.stdout.write(`# first page with ${REPOSITORIES} repositories rendered in ${elapsed} ms with ${requests.length} requests: ${requests.join(' ')}\n`);
    assert.deepEqual(requests, ['/ui/', '/ui/app.js', '/v2/_ferro/ui/repositories?sort=name&page=1&perPage=25']);
    assert.equal(await page.locator('tbody tr').count(), 25);
    assert.deepEqual(await page.locator('tbody tr').first().locator('td').allTextContents(), ['1', '5 B', (await page.locator('tbody time').first().textContent()) ?? '']);
    await screenshot(page, '10-ten-thousand');

    await page.goto(`${url}/ui/#/repositories?sort=name&page=400`);
    await page.getByText('Page 400 of 400').waitFor();
    assert.equal(await page.locator('tbody th').last().textContent(), 'team-099/service-09999');
    const search = Date.now();
    await page.goto(`${url}/ui/#/repositories?search=service-0424&sort=size`);
    await page.getByText('10 repositories matching “service-0424”, by size').waitFor();
    process.stdout.write(`# a search sorted by size over ${REPOSITORIES} repositories rendered in ${Date.now() - search} ms\n`);
    const sorted = Date.now();
    await page.goto(`${url}/ui/#/repositories?sort=pushed`);
    await page.getByText(`${REPOSITORIES} repositories, by last push`).waitFor();
    process.stdout.write(`# all ${REPOSITORIES} repositories sorted by last push rendered in ${Date.now() - sorted} ms (every one summarized)\n`);
  });
});
