/**
 * The web UI in real headless chromium (support/browser.ts) against a
 * registry with basic auth, seeded by skopeo (copies from an OCI layout
 * written to disk, support/ui-images.ts SkopeoSink) with a two-platform
 * index, its signature and SBOM, a Helm chart and 30 more public
 * repositories: every
 * page's content, search, sort, paging, sign-in, the copy buttons, a delete,
 * keyboard-only use, and no axe-core WCAG 2.2 A/AA violation on any page.
 * Screenshots land in SCREENSHOT_DIR.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { axeViolations, browserMissing, launchBrowser, screenshot, SCREENSHOT_DIR, type TestBrowser } from '../../support/browser.js';
import { skopeoMissing } from '../../support/skopeo.js';
import { pushPlatformImage, pushSampleSet, SkopeoSink, type SampleSet } from '../../support/ui-images.js';
import { basic, startAuthRegistry, type AuthRegistry } from '../auth/helpers.js';

const skip = browserMissing() ?? skopeoMissing();

/** Writes what `write` puts into an OCI layout, then copies it into the registry with skopeo as `user`. */
async function seedWithSkopeo<T>(url: string, user: string, write: (sink: SkopeoSink) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-ui-layout-'));
  try {
    const sink = await SkopeoSink.create(dir);
    const written = await write(sink);
    await sink.push({ host: new URL(url).host, creds: `${user}:${user}-pass` }, 3);
    return written;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function accessible(page: Page, name: string): Promise<void> {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

async function signIn(page: Page, user: string, password: string): Promise<void> {
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe('web UI in chromium', { skip }, () => {
  let reg: AuthRegistry;
  let samples: SampleSet;
  let browser: TestBrowser;
  let page: Page;
  const host = () => new URL(reg.url).host;

  before(async () => {
    reg = await startAuthRegistry({ mode: 'basic', server: true });
    const started = Date.now();
    samples = await seedWithSkopeo(reg.url, 'admin', async (sink) => {
      const set = await pushSampleSet(sink, 'team-b/app', 'public/charts');
      for (let i = 0; i < 30; i++) await pushPlatformImage(sink, `public/r${String(i).padStart(2, '0')}`, 'amd64', [100 + i * 1000]);
      return set;
    });
    process.stdout.write(`# seeded by skopeo in ${Date.now() - started} ms\n`);
    browser = await launchBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    process.stdout.write(`# screenshots: ${SCREENSHOT_DIR}\n`);
  });
  after(async () => {
    await browser?.close();
    await reg?.close();
  });

  test('repositories: the anonymous list, paging, search and sort', async () => {
    await page.goto(`${reg.url}/ui/`);
    await page.getByRole('heading', { level: 1, name: 'Repositories' }).waitFor();
    assert.equal(await page.locator('caption').textContent(), '31 repositories, by name');
    assert.equal(await page.locator('tbody tr').count(), 25);
    assert.equal(await page.locator('tbody th').first().textContent(), 'public/charts');
    assert.equal(await page.getByText('team-b/app').count(), 0, 'a private repository is listed to an anonymous visitor');
    await accessible(page, '01-repositories');

    await page.getByRole('link', { name: 'Next →' }).click();
    await page.getByText('Page 2 of 2').waitFor();
    assert.deepEqual(await page.locator('tbody th').allTextContents(), ['public/r24', 'public/r25', 'public/r26', 'public/r27', 'public/r28', 'public/r29']);

    await page.getByLabel('Search repositories').fill('R2');
    await page.getByLabel('Sort by').selectOption('size');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText('10 repositories matching “R2”, by size').waitFor();
    const rows = await page.locator('tbody th').allTextContents();
    assert.deepEqual(rows, ['public/r29', 'public/r28', 'public/r27', 'public/r26', 'public/r25', 'public/r24', 'public/r23', 'public/r22', 'public/r21', 'public/r20']);
  });

  test('sign-in: a wrong password is refused, the right one shows the private repositories', async () => {
    await page.goto(`${reg.url}/ui/#/repositories`);
    await signIn(page, 'bob', 'wrong');
    await page.getByText('Wrong username or password.').waitFor();
    await accessible(page, '02-sign-in');
    await page.getByLabel('Password').fill('bob-pass');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Signed in as bob').waitFor();
    await page.getByLabel('Search repositories').fill('team');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('link', { name: 'team-b/app' }).click();
    await page.getByRole('heading', { level: 1, name: 'team-b/app' }).waitFor();
  });

  test('a repository: tags with digest, type, platforms, size and push time', async () => {
    const rows = page.locator('tbody tr');
    assert.deepEqual(await page.locator('tbody th').allTextContents(), ['latest', '1.0'], 'newest first');
    const first = await rows.first().locator('td').allTextContents();
    assert.equal(first[0], samples.index.digest.slice(0, 19));
    assert.equal(first[1], 'index (2 platforms)');
    assert.equal(first[2], 'linux/amd64, linux/arm64');
    await page.getByRole('link', { name: 'Show untagged manifests' }).click();
    await page.getByRole('heading', { name: 'Untagged manifests' }).waitFor();
    assert.equal(await page.getByRole('table').nth(1).locator('tbody tr').count(), 4);
    await accessible(page, '03-repository');
  });

  test('an index: platforms, referrers, copyable pull commands and the raw manifest', async () => {
    await page.getByRole('link', { name: '1.0', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'team-b/app:1.0' }).waitFor();
    assert.deepEqual(await page.getByRole('table').first().locator('tbody td:nth-child(2)').allTextContents(), ['linux/amd64', 'linux/arm64']);
    await page.getByRole('heading', { name: /^Signatures/ }).waitFor();
    await page.getByRole('heading', { name: /^SBOMs/ }).waitFor();
    await page.getByRole('button', { name: 'Copy the docker command' }).first().click();
    await page.getByText(`Copied: docker pull ${host()}/team-b/app:1.0`).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), `docker pull ${host()}/team-b/app:1.0`);
    await page.getByRole('button', { name: 'Copy the helm command' }).last().click();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), `helm pull oci://${host()}/team-b/app@${samples.index.digest}`);
    await page.getByText('Show the manifest JSON').click();
    assert.match((await page.getByLabel('Manifest JSON').textContent()) ?? '', /"mediaType": "application\/vnd\.oci\.image\.index\.v1\+json"/);
    await accessible(page, '04-index');

    await page.getByRole('link', { name: samples.signature }).click();
    await page.getByText('application/vnd.dev.cosign.artifact.sig.v1+json').first().waitFor();
    await accessible(page, '05-signature');
    await page.goBack();
    await page.getByRole('link', { name: 'linux/amd64' }).click();
    await page.getByRole('heading', { name: 'Configuration' }).waitFor();
    assert.equal(await page.locator('dd').filter({ hasText: '["/bin/server"]' }).count(), 1);
    assert.equal(await page.getByRole('table', { name: /^Layers, base first \(2,/ }).locator('tbody tr').count(), 2);
    await accessible(page, '06-image');
  });

  test('deleting a tag: the dialog says what happens, then the tag is gone', async () => {
    await page.goto(`${reg.url}/ui/#/repository?name=team-b/app`);
    await page.getByRole('button', { name: 'Delete tag latest' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete tag latest?' });
    await dialog.getByText('Only the tag latest goes').waitFor();
    assert.match((await dialog.textContent()) ?? '', /still tagged 1\.0/);
    await accessible(page, '07-delete-dialog');
    await dialog.getByRole('button', { name: 'Delete tag' }).click();
    await page.getByText('Deleted tag latest from team-b/app.').waitFor();
    assert.deepEqual(await page.locator('tbody th').allTextContents(), ['1.0']);
    assert.equal((await fetch(`${reg.url}/v2/team-b/app/manifests/latest`, { headers: { authorization: basic('bob') } })).status, 404);
  });

  test('storage and signing out: no delete buttons without delete rights', async () => {
    await page.goto(`${reg.url}/ui/#/storage`);
    await page.getByText('Only administrators see the collection report.').waitFor();
    await accessible(page, '08-storage');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Sign in' }).waitFor();
    await page.goto(`${reg.url}/ui/#/image?name=public/charts&ref=0.1.0`);
    await page.getByRole('heading', { level: 1, name: 'public/charts:0.1.0' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Delete/ }).count(), 0);
    assert.match((await page.locator('dl.facts').first().textContent()) ?? '', /artifact: application\/vnd\.cncf\.helm\.config\.v1\+json/);
    await page.goto(`${reg.url}/ui/#/repository?name=team-b/app`);
    await page.getByRole('alert').filter({ hasText: 'pull access to repository team-b/app is not granted' }).waitFor();
  });

  test('a 401 with its Basic challenge opens no login dialog of the browser', async () => {
    const fresh = await browser.newPage();
    const cdp = await fresh.context().newCDPSession(fresh);
    try {
      // What the browser would prompt for reaches DevTools as Fetch.authRequired (answered here with a cancel).
      const prompts: string[] = [];
      cdp.on('Fetch.authRequired', (e) => {
        prompts.push(e.request.url);
        void cdp.send('Fetch.continueWithAuth', { requestId: e.requestId, authChallengeResponse: { response: 'CancelAuth' } });
      });
      cdp.on('Fetch.requestPaused', (e) => void cdp.send('Fetch.continueRequest', { requestId: e.requestId }));
      await cdp.send('Fetch.enable', { handleAuthRequests: true, patterns: [{ urlPattern: '*' }] });
      const refused = await Promise.all([fresh.waitForResponse((r) => r.url().includes('/v2/_ferro/ui/repository?')), fresh.goto(`${reg.url}/ui/#/repository?name=team-b/app`)]);
      assert.equal(refused[0].status(), 401);
      assert.match((await refused[0].headerValue('www-authenticate')) ?? '', /^Basic realm=/);
      await fresh.getByRole('alert').filter({ hasText: 'pull access to repository team-b/app is not granted' }).waitFor();
      await fresh.goto(`${reg.url}/ui/#/repositories`);
      await fresh.getByRole('heading', { level: 1, name: 'Repositories' }).waitFor();
      await signIn(fresh, 'bob', 'wrong'); // answered 401 with the challenge
      await fresh.getByText('Wrong username or password.').waitFor();
      assert.deepEqual(prompts, []);
    } finally {
      await cdp.detach();
      await fresh.close();
    }
  });

  test('keyboard only: skip link, search, open a repository', async () => {
    await page.goto(`${reg.url}/ui/`);
    await page.getByRole('heading', { level: 1, name: 'Repositories' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content');
    await page.keyboard.press('Enter');
    const focused = () => page.evaluate<string>("`${document.activeElement?.tagName} ${document.activeElement?.getAttribute('id') ?? document.activeElement?.textContent}`");
    for (let i = 0; i < 5 && !(await focused()).startsWith('INPUT search'); i++) await page.keyboard.press('Tab');
    assert.equal(await focused(), 'INPUT search');
    await page.keyboard.type('charts');
    await page.keyboard.press('Enter');
    await page.getByText('1 repository matching “charts”, by name').waitFor();
    for (let i = 0; i < 10 && (await focused()) !== 'A public/charts'; i++) await page.keyboard.press('Tab');
    assert.equal(await focused(), 'A public/charts');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'public/charts' }).waitFor();
    assert.equal(await focused(), 'H1 public/charts', 'the new page heading takes the focus');
  });
});

describe('web UI sign-in with token auth', { skip }, () => {
  test('signing in asks the token endpoint; the token shows what the user may pull', async () => {
    const reg = await startAuthRegistry({ mode: 'token', server: true });
    const browser = await launchBrowser();
    try {
      await seedWithSkopeo(reg.url, 'bob', (sink) => pushPlatformImage(sink, 'team-b/app', 'amd64')); // skopeo gets its token from the token endpoint
      const page = await browser.newPage();
      await page.goto(`${reg.url}/ui/`);
      await page.getByText('No repository you may see yet.').waitFor();
      await signIn(page, 'bob', 'bob-pass');
      await page.getByText('Signed in as bob').waitFor();
      await page.getByRole('link', { name: 'team-b/app' }).click();
      await page.getByRole('heading', { level: 1, name: 'team-b/app' }).waitFor();
    } finally {
      await browser.close();
      await reg.close();
    }
  });
});
