/**
 * Serves the web UI (docs/ui.md) under /ui: one HTML page with the styles
 * inline, and one script, both built by `npm run build` (esbuild, from
 * src/ui/web) into dist/src/ui and read once when the plugin registers (no
 * build step at start). Its data comes from the registry's JSON API
 * (/v2/_ferro/ui, http/routes-ui.ts), which does the access control; the
 * assets themselves are public. A Content-Security-Policy allows nothing but
 * this origin's script, the inline styles (by hash) and same-origin fetches.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import { routeAccess } from '../http/route-access.js';

export interface UiOptions {
  /** The registry host shown in pull commands (e.g. registry.example.com); default the host the browser used. */
  readonly publicHost?: string;
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const ASSET_DIR = new URL('../ui/', import.meta.url);

function asset(body: string | Buffer, type: string): Asset {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  return { body: bytes, type, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"` };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(css: string, publicHost: string | undefined): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>ferro-oci-server</title>',
    '<link rel="icon" href="data:,">',
    publicHost ? `<meta name="ferro-public-host" content="${escapeHtml(publicHost)}">` : '',
    `<style>${css}</style>`,
    '<script type="module" src="/ui/app.js"></script>',
    '</head>',
    '<body>',
    '<a class="skip" href="#main">Skip to content</a>',
    '<header class="top"><a class="brand" href="#/repositories">ferro-oci-server</a></header>',
    '<div id="status" role="status" aria-live="polite"></div>',
    '<main id="main" tabindex="-1"><p>Loading…</p></main>',
    '<noscript><p>The registry browser needs JavaScript.</p></noscript>',
    '</body>',
    '</html>',
  ].join('\n');
}

/** The /ui routes. Throws at registration when the assets were not built. */
export function uiRoutes(app: FastifyInstance, options: UiOptions = {}): void {
  let css: string;
  let script: Buffer;
  try {
    css = readFileSync(new URL('app.css', ASSET_DIR), 'utf8');
    script = readFileSync(new URL('app.js', ASSET_DIR));
  } catch (err) {
    throw new Error(`the web UI's assets are missing from ${ASSET_DIR.pathname} (run npm run build, or turn the UI off): ${(err as Error).message}`);
  }
  const html = asset(page(css, options.publicHost), 'text/html; charset=utf-8');
  const js = asset(script, 'text/javascript; charset=utf-8');
  const styleHash = createHash('sha256').update(css).digest('base64');
  const csp = `default-src 'none'; script-src 'self'; style-src 'sha256-${styleHash}'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

  const send = async (request: FastifyRequest, reply: FastifyReply, a: Asset) => {
    reply.header('Content-Type', a.type).header('ETag', a.etag).header('Cache-Control', 'no-cache').header('X-Content-Type-Options', 'nosniff').header('Referrer-Policy', 'no-referrer');
    if (a === html) reply.header('Content-Security-Policy', csp);
    if (request.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.send(request.method === 'HEAD' ? undefined : a.body);
  };
  const open = routeAccess('open');
  app.get('/ui', open, async (_request, reply) => reply.redirect('/ui/', 302));
  app.get('/ui/', open, async (request, reply) => send(request, reply, html));
  app.get('/ui/app.js', open, async (request, reply) => send(request, reply, js));
  app.get('/ui/*', open, async (request) => {
    throw new RegistryError('ROUTE_UNKNOWN', `no web UI file at ${request.url.split('?', 1)[0]!.slice(0, 200)}`);
  });
}
