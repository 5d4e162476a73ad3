/**
 * The web UI (docs/ui.md): one page, routed by the URL's hash
 * (`#/<page>?<params>`), each page built from the JSON API. After each
 * navigation the page's heading takes the focus, so that keyboard and
 * screen-reader users start at the new content.
 */
import { ApiError, session, signOut } from './api.js';
import { announce, fragment, h, href, type Child } from './dom.js';
import { imagePage } from './page-image.js';
import { loginPage } from './page-login.js';
import { repositoriesPage, storagePage } from './page-repositories.js';
import { repositoryPage } from './page-repository.js';

export interface Page {
  readonly title: string;
  readonly content: Child;
}

type PageBuilder = (params: URLSearchParams) => Promise<Page>;

const PAGES: Record<string, PageBuilder> = {
  '': repositoriesPage,
  repositories: repositoriesPage,
  repository: repositoryPage,
  image: imagePage,
  storage: storagePage,
  login: loginPage,
};

let rendering = 0;

async function header(): Promise<HTMLElement> {
  const s = await session().catch(() => undefined);
  const who =
    s?.auth === 'none' || s === undefined
      ? null
      : s.user
        ? h('span', { class: 'who' }, `Signed in as ${s.user} `, h('button', { type: 'button', class: 'link', onclick: () => { signOut(); void render(); } }, 'Sign out'))
        : h('a', { href: href('login', { next: location.hash }) }, 'Sign in');
  return h(
    'header',
    { class: 'top' },
    h('a', { href: href('repositories'), class: 'brand' }, 'ferro-oci-server'),
    h('nav', { 'aria-label': 'Main' }, h('ul', {}, h('li', {}, h('a', { href: href('repositories') }, 'Repositories')), h('li', {}, h('a', { href: href('storage') }, 'Storage')))),
    who,
  );
}

function failurePage(err: unknown): Page {
  const message = err instanceof Error ? err.message : String(err);
  const signIn = err instanceof ApiError && (err.status === 401 || err.status === 403);
  return {
    title: err instanceof ApiError && err.status === 404 ? 'Not found' : 'Cannot show this page',
    content: [h('p', { class: 'error', role: 'alert' }, message), signIn ? h('p', {}, h('a', { href: href('login', { next: location.hash }) }, 'Sign in with another account')) : null],
  };
}

export async function render(): Promise<void> {
  const turn = ++rendering;
  const [path = '', query = ''] = location.hash.replace(/^#\/?/, '').split('?', 2);
  const builder = PAGES[path];
  const main = document.getElementById('main')!;
  main.setAttribute('aria-busy', 'true');
  let page: Page;
  try {
    page = builder ? await builder(new URLSearchParams(query)) : { title: 'Not found', content: h('p', {}, 'No such page.') };
  } catch (err) {
    page = failurePage(err);
  }
  const top = await header();
  if (turn !== rendering) return; // a later navigation won
  document.querySelector('header.top')?.replaceWith(top);
  const heading = h('h1', { tabindex: '-1' }, page.title);
  main.replaceChildren(heading, fragment(page.content));
  main.removeAttribute('aria-busy');
  document.title = `${page.title} · ferro-oci-server`;
  // The first page keeps the document's own order (the skip link first); later ones start at their heading.
  if (turn > 1) heading.focus();
  announce('');
}

// Only `#/…` hashes are pages; the skip link moves the focus without touching the hash.
window.addEventListener('hashchange', () => {
  if (location.hash === '' || location.hash.startsWith('#/')) void render();
});
document.querySelector('a.skip')?.addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main')?.focus();
});
void render();
