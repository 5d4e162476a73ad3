/**
 * The web UI's first page with 10,000 repositories, in chromium: the page,
 * its script and one data request, and the page shows the first 25
 * repositories with their tag counts and sizes. The repositories are written
 * through the MetadataStore port (10,000 pushes over HTTP would take
 * minutes): in memory by default, in SQLite (about 75 s of seeding on the
 * development machine) with FERRO_OCI_UI_SCALE_STORE=disk. The times to
 * render, as the browser measures them (performance.now() from the start of
 * the navigation or hash change to the rows on the page), are printed, not
 * judged: the cold first load, a warm one, and sorts by last push and size.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { digestOf } from '../../src/oci/digest.js';
import { createRegistryServer } from '../../src/server/app.js';
import type { MetadataStore } from '../../src/storage/meta/types.js';
import type { Page } from 'playwright-core';
import { browserMissing, launchBrowser, screenshot, type TestBrowser } from '../../support/browser.js';
import { openStores, type StorageKind } from '../../support/registry.js';

const REPOSITORIES = 10_000;
const STORE: StorageKind = process.env.FERRO_OCI_UI_SCALE_STORE === 'disk' ? 'disk' : 'memory';

/** Repository i: pushed at now + i ms, holding count - i bytes (the first by name is the largest and the first pushed). */
async function seed(meta: MetadataStore, count: number): Promise<void> {
  const started = meta.clock();
  for (let i = 0; i < count; i++) {
    const repository = `team-${String(i % 100).padStart(3, '0')}/service-${String(i).padStart(5, '0')}`;
    const blob = { digest: digestOf(Buffer.from(`layer ${i}`)), size: count - i };
    const now = started + i;
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

  // Evaluated in the page, as source text (the tests compile without the DOM's types).
  /** Installed before the page's own script: records performance.now() each time the UI finishes rendering a page (main loses aria-busy). */
  const RECORDER = `window.__rendered = [];
    new MutationObserver((records) => {
      for (const r of records) if (r.target.id === 'main' && !r.target.hasAttribute('aria-busy')) window.__rendered.push(performance.now());
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['aria-busy'] });`;

  /** Milliseconds since the page's navigation started (the browser's clock) when the UI finished rendering `rows` rows under `caption`, after more than `renders` renders. */
  const renderedAt = async (page: Page, rows: number, caption: string, renders = 0): Promise<number> => {
    const ready = `window.__rendered.length > ${renders} && document.querySelectorAll('tbody tr').length === ${rows} && document.querySelector('caption')?.textContent === ${JSON.stringify(caption)} && window.__rendered.at(-1)`;
    // Polled from here: the page's CSP forbids the eval that waitForFunction does in the page (the time comes from the recorder anyway).
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(10)) {
      const at = await page.evaluate<number | false>(ready);
      if (at !== false) return at;
    }
    throw new Error(`no render of ${rows} rows under ${caption}`);
  };

  /** The browser's resource timing of the last data request: its duration, the wait for the server's first byte, its size. */
  const apiTiming = (page: Page) =>
    page.evaluate<{ total: number; waiting: number; bytes: number } | undefined>(`(() => {
      const e = performance.getEntriesByType('resource').filter((r) => r.name.includes('/v2/_ferro/ui/repositories')).pop();
      return e && { total: Math.round(e.duration), waiting: Math.round(e.responseStart - e.requestStart), bytes: e.encodedBodySize };
    })()`);

  /** Goes to `hash` from the page it is on; the time from the hash change to the rows, by the browser's clock. */
  async function navigate(page: Page, hash: string, rows: number, caption: string): Promise<number> {
    const [started, renders] = await page.evaluate<[number, number]>(`(() => { const t = performance.now(); location.hash = ${JSON.stringify(hash)}; return [t, window.__rendered.length]; })()`);
    return Math.round((await renderedAt(page, rows, caption, renders)) - started);
  }

  test('the first page: three requests, 25 rows of 10,000, and the last page; sorted by push and size', async () => {
    const page = await browser.newPage();
    await page.addInitScript(RECORDER);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url().replace(url, '')));
    const byName = `${REPOSITORIES} repositories, by name`;
    const times: string[] = [];
    for (const visit of ['cold', 'warm']) {
      requests.length = 0;
      await page.goto(`${url}/ui/`);
      const rendered = Math.round(await renderedAt(page, 25, byName));
      const api = await apiTiming(page);
      times.push(`${visit}: ${rendered} ms (data request ${api?.total} ms, ${api?.waiting} ms of it waiting for the server, ${api?.bytes} bytes)`);
      assert.deepEqual(requests, ['/ui/', '/ui/app.js', '/v2/_ferro/ui/repositories?sort=name&page=1&perPage=25']);
      await page.goto('about:blank');
    }
    process.stdout.write(`# first page with ${REPOSITORIES} repositories (${STORE}), three requests, rendered after navigation start in ${times.join('; ')}\n`);
    await page.goto(`${url}/ui/`);
    await renderedAt(page, 25, byName);
    assert.deepEqual(await page.locator('tbody tr').first().locator('td').allTextContents(), ['1', '9.8 KiB', (await page.locator('tbody time').first().textContent()) ?? '']);
    await screenshot(page, '10-ten-thousand');

    const pushed = await navigate(page, '#/repositories?sort=pushed', 25, `${REPOSITORIES} repositories, by last push`);
    assert.equal(await page.locator('tbody th').first().textContent(), 'team-099/service-09999', 'the last pushed first');
    const size = await navigate(page, '#/repositories?sort=size', 25, `${REPOSITORIES} repositories, by size`);
    assert.equal(await page.locator('tbody th').first().textContent(), 'team-000/service-00000', 'the largest first');
    const last = await navigate(page, '#/repositories?sort=pushed&page=400', 25, `${REPOSITORIES} repositories, by last push`);
    await page.getByText('Page 400 of 400').waitFor();
    assert.equal(await page.locator('tbody th').last().textContent(), 'team-000/service-00000', 'the first pushed last');
    const search = await navigate(page, '#/repositories?search=service-0424&sort=size', 10, '10 repositories matching “service-0424”, by size');
    process.stdout.write(`# from the first page, by last push: ${pushed} ms; by size: ${size} ms; page 400 by last push: ${last} ms; a search by size: ${search} ms\n`);
  });
});
