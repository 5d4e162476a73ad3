/**
 * A real headless browser for the web UI tests: Debian's chromium driven by
 * playwright-core (nothing downloaded; `.ci/run` installs the package), a
 * fresh profile per launch, axe-core injected into pages for accessibility
 * checks, and screenshots written for review.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.FERRO_OCI_CHROMIUM ?? '/usr/bin/chromium';
/** What to run when chromium is missing (tests skip with it). */
export const CHROMIUM_INSTALL = 'apt-get install -y chromium';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The skip reason when the browser is not installed, else undefined. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: ${CHROMIUM_INSTALL}`;
}

export interface TestBrowser {
  readonly context: BrowserContext;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Launches headless chromium with a fresh --user-data-dir (removed on close) and clipboard access. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'ferro-oci-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  return {
    context,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: string[];
}

let axeSource: string | undefined;

/**
 * Runs axe-core in the page (evaluated over the DevTools protocol, which the
 * page's Content-Security-Policy does not restrict) against the WCAG 2.0,
 * 2.1 and 2.2 A and AA rules; returns the violations.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(`${axeSource}\n;void 0`);
  const options = { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] }, resultTypes: ['violations'] };
  const result = await page.evaluate<RawViolation[]>(`axe.run(document, ${JSON.stringify(options)}).then((r) => r.violations)`);
  return result.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
}

interface RawViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/** Where screenshots go: $FERRO_OCI_SCREENSHOTS, else a folder under the system temp dir. */
export const SCREENSHOT_DIR = process.env.FERRO_OCI_SCREENSHOTS ?? join(tmpdir(), 'ferro-oci-ui-screenshots');

/** Writes a full-page PNG of `page` as `<name>.png`; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
