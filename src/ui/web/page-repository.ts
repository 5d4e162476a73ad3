/** A repository: its tags (digest, type, platforms, size, push time), untagged manifests on request. */
import { api } from './api.js';
import { deleteButton } from './actions.js';
import { bytes, h, href, pager, shortDigest, time } from './dom.js';
import type { Page } from './main.js';

export interface ManifestSummary {
  digest: string;
  mediaType: string;
  kind: 'index' | 'image' | 'artifact';
  artifactType?: string;
  platforms?: string[];
  size: number;
  subject?: string;
}

interface RepositoryDetails {
  name: string;
  tags: number;
  bytes: number;
  pushedAt?: number;
  total: number;
  items: Array<ManifestSummary & { tag: string; pushedAt: number; immutable: boolean }>;
  untagged?: Array<ManifestSummary & { pushedAt: number }>;
  canDelete: boolean;
}

const PER_PAGE = 50;

/** `image`, `index (3 platforms)`, `artifact: <type>`. */
export function kindLabel(m: ManifestSummary): string {
  if (m.kind === 'index') return `index${m.platforms ? ` (${m.platforms.length} platform${m.platforms.length === 1 ? '' : 's'})` : ''}`;
  if (m.kind === 'artifact') return `artifact${m.artifactType ? `: ${m.artifactType}` : ''}`;
  return 'image';
}

function digestLink(name: string, digest: string): HTMLElement {
  return h('a', { href: href('image', { name, ref: digest }), class: 'digest', title: digest }, h('code', {}, shortDigest(digest)));
}

export async function repositoryPage(params: URLSearchParams): Promise<Page> {
  const name = params.get('name') ?? '';
  const sort = params.get('sort') === 'name' ? 'name' : 'pushed';
  const page = Math.max(1, Number(params.get('page')) || 1);
  const untagged = params.get('untagged') === '1';
  const repo = await api<RepositoryDetails>('repository', { name, sort, page, perPage: PER_PAGE, untagged });
  const link = (changes: Record<string, string | number | undefined>) => href('repository', { name, sort, page, untagged: untagged ? 1 : undefined, ...changes });
  const tagRows = repo.items.map((t) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('a', { href: href('image', { name, ref: t.tag }) }, t.tag), t.immutable ? h('span', { class: 'badge' }, 'immutable') : null),
      h('td', {}, digestLink(name, t.digest)),
      h('td', {}, kindLabel(t)),
      h('td', {}, t.platforms?.join(', ') ?? '—'),
      h('td', { class: 'num' }, bytes(t.size)),
      h('td', {}, time(t.pushedAt)),
      repo.canDelete ? h('td', {}, t.immutable ? '—' : deleteButton(name, t.tag, `Delete tag ${t.tag}`)) : null,
    ),
  );
  const head = ['Tag', 'Digest', 'Type', 'Platforms', 'Size', 'Pushed', ...(repo.canDelete ? ['Actions'] : [])];
  return {
    title: name,
    content: [
      h('p', { class: 'summary' }, `${repo.tags} tags · ${bytes(repo.bytes)} stored · last push `, time(repo.pushedAt)),
      h(
        'p',
        { class: 'filters' },
        'Sort: ',
        sort === 'pushed' ? h('strong', {}, 'newest first') : h('a', { href: link({ sort: 'pushed', page: 1 }) }, 'newest first'),
        ' · ',
        sort === 'name' ? h('strong', {}, 'by name') : h('a', { href: link({ sort: 'name', page: 1 }) }, 'by name'),
        ' · ',
        h('a', { href: link({ untagged: untagged ? undefined : 1 }) }, untagged ? 'Hide untagged manifests' : 'Show untagged manifests'),
      ),
      repo.total === 0
        ? h('p', {}, 'No tags.')
        : h(
            'table',
            {},
            h('caption', {}, `Tags of ${name}, ${sort === 'pushed' ? 'newest first' : 'by name'}`),
            h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col', class: c === 'Size' ? 'num' : undefined }, c)))),
            h('tbody', {}, tagRows),
          ),
      pager(repo.total, page, PER_PAGE, (p) => link({ page: p })),
      repo.untagged
        ? [
            h('h2', {}, 'Untagged manifests'),
            repo.untagged.length === 0
              ? h('p', {}, 'None.')
              : h(
                  'table',
                  {},
                  h('caption', {}, 'Manifests no tag points at (index children and referrers included), newest first'),
                  h('thead', {}, h('tr', {}, ['Digest', 'Type', 'Refers to', 'Size', 'Pushed', ...(repo.canDelete ? ['Actions'] : [])].map((c) => h('th', { scope: 'col' }, c)))),
                  h(
                    'tbody',
                    {},
                    repo.untagged.map((m) =>
                      h(
                        'tr',
                        {},
                        h('td', {}, digestLink(name, m.digest)),
                        h('td', {}, kindLabel(m)),
                        h('td', {}, m.subject ? digestLink(name, m.subject) : '—'),
                        h('td', { class: 'num' }, bytes(m.size)),
                        h('td', {}, time(m.pushedAt)),
                        repo.canDelete ? h('td', {}, deleteButton(name, m.digest, `Delete manifest ${m.digest.slice(0, 19)}`)) : null,
                      ),
                    ),
                  ),
                ),
          ]
        : null,
    ],
  };
}
