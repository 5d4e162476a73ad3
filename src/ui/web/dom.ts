/** A small DOM builder: elements from tag, attributes and children; text is never parsed as HTML. */
import { formatBytes } from '../../services/usage.js';

export type Child = Node | string | number | null | undefined | false | Child[];
type Attr = string | number | boolean | undefined | ((event: Event) => void);

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, Attr> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else if (value !== undefined && value !== false) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** A link inside the UI: `#/<page>?<params>`. */
export function href(page: string, params: Record<string, string | number | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') query.set(k, String(v));
  const text = query.toString();
  return `#/${page}${text ? `?${text}` : ''}`;
}

/** 1023 B, 1.5 KiB, 2.0 MiB, … (the server's own formatting, bundled). */
export const bytes = formatBytes;

/** A <time> element: local date and time, the ISO form in `datetime`. */
export function time(ms: number | string | undefined): Child {
  if (ms === undefined) return '—';
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return String(ms);
  return h('time', { datetime: date.toISOString(), title: date.toISOString() }, date.toLocaleString());
}

export function shortDigest(digest: string): string {
  const [algorithm, hex = ''] = digest.split(':');
  return `${algorithm}:${hex.slice(0, 12)}`;
}

/** Announces `text` to screen readers and shows it in the status line. */
export function announce(text: string): void {
  const status = document.getElementById('status');
  if (status) status.textContent = text;
}

/** A "previous / page x of y / next" navigation for a list of `total` items. */
export function pager(total: number, page: number, perPage: number, link: (page: number) => string): Child {
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages <= 1) return null;
  return h(
    'nav',
    { 'aria-label': 'Pages', class: 'pager' },
    page > 1 ? h('a', { href: link(page - 1), rel: 'prev' }, '← Previous') : null,
    h('span', {}, `Page ${page} of ${pages}`),
    page < pages ? h('a', { href: link(page + 1), rel: 'next' }, 'Next →') : null,
  );
}

/** The children as one fragment. */
export function fragment(...children: Child[]): DocumentFragment {
  const f = document.createDocumentFragment();
  append(f, children);
  return f;
}
