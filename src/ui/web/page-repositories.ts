/** The repositories page (search, sort, pages) and the storage page (usage per repository, the last collection). */
import { api, ApiError } from './api.js';
import { bytes, h, href, pager, time, type Child } from './dom.js';
import type { Page } from './main.js';

interface RepositorySummary {
  name: string;
  tags: number;
  bytes: number;
  pushedAt?: number;
}

interface RepositoryList {
  total: number;
  items: RepositorySummary[];
}

const SORTS = { name: 'Name', pushed: 'Last push', size: 'Size' } as const;
const PER_PAGE = 25;

function sortOf(value: string | null): keyof typeof SORTS {
  return value === 'pushed' || value === 'size' ? value : 'name';
}

function repositoryTable(list: RepositoryList, caption: string): HTMLElement {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Repository'), h('th', { scope: 'col', class: 'num' }, 'Tags'), h('th', { scope: 'col', class: 'num' }, 'Size'), h('th', { scope: 'col' }, 'Last push'))),
    h(
      'tbody',
      {},
      list.items.map((r) =>
        h('tr', {}, h('th', { scope: 'row' }, h('a', { href: href('repository', { name: r.name }) }, r.name)), h('td', { class: 'num' }, r.tags), h('td', { class: 'num' }, bytes(r.bytes)), h('td', {}, time(r.pushedAt))),
      ),
    ),
  );
}

export async function repositoriesPage(params: URLSearchParams): Promise<Page> {
  const search = params.get('search') ?? '';
  const sort = sortOf(params.get('sort'));
  const page = Math.max(1, Number(params.get('page')) || 1);
  const list = await api<RepositoryList>('repositories', { search, sort, page, perPage: PER_PAGE });
  const form = h(
    'form',
    {
      role: 'search',
      class: 'filters',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        location.hash = href('repositories', { search: String(data.get('search') ?? ''), sort: String(data.get('sort') ?? 'name') });
      },
    },
    h('label', { for: 'search' }, 'Search repositories'),
    h('input', { id: 'search', name: 'search', type: 'search', value: search, autocomplete: 'off' }),
    h('label', { for: 'sort' }, 'Sort by'),
    h('select', { id: 'sort', name: 'sort' }, Object.entries(SORTS).map(([value, label]) => h('option', { value, selected: value === sort }, label))),
    h('button', { type: 'submit' }, 'Show'),
  );
  const caption = `${list.total} ${list.total === 1 ? 'repository' : 'repositories'}${search ? ` matching “${search}”` : ''}, by ${SORTS[sort].toLowerCase()}`;
  const body: Child = list.total === 0 ? h('p', {}, search ? 'No repository matches.' : 'No repository you may see yet.') : repositoryTable(list, caption);
  return { title: 'Repositories', content: [form, body, pager(list.total, page, PER_PAGE, (p) => href('repositories', { search, sort, page: p }))] };
}

interface GcReport {
  dryRun?: boolean;
  blobsDeleted?: number;
  bytesFreed?: number;
  [key: string]: unknown;
}

function gcSection(report: GcReport | null | undefined, error?: ApiError): Child {
  const heading = h('h2', {}, 'Last garbage collection');
  if (error) return [heading, h('p', {}, error.status === 403 || error.status === 401 ? 'Only administrators see the collection report.' : error.message)];
  if (!report) return [heading, h('p', {}, 'No collection has run since the server started.')];
  const rows = Object.entries(report).filter(([, v]) => typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string');
  return [heading, h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, /bytes/i.test(k) && typeof v === 'number' ? bytes(v) : /At$|started|finished/i.test(k) ? time(v as number) : String(v))]))];
}

export async function storagePage(): Promise<Page> {
  const list = await api<RepositoryList>('repositories', { sort: 'size', perPage: 200 });
  let report: GcReport | null | undefined;
  let error: ApiError | undefined;
  try {
    report = (await api<{ last: GcReport | null }>('gc')).last;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    error = err;
  }
  const total = list.items.reduce((sum, r) => sum + r.bytes, 0);
  return {
    title: 'Storage',
    content: [
      h('p', {}, `The ${list.items.length} largest repositories you may see hold ${bytes(total)} (a blob shared by two repositories counts in both).`),
      list.items.length > 0 ? repositoryTable(list, 'Storage per repository, largest first') : null,
      gcSection(report, error),
    ],
  };
}
