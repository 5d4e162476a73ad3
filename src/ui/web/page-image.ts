/** An image, index or artifact: platforms, config, layers, annotations, referrers, pull commands, the raw manifest. */
import { api } from './api.js';
import { backToRepository, deleteButton, pullSection } from './actions.js';
import { bytes, h, href, time, type Child } from './dom.js';
import type { Page } from './main.js';
import { kindLabel, type ManifestSummary } from './page-repository.js';

interface Blob {
  digest: string;
  mediaType: string;
  size: number;
  annotations?: Record<string, string>;
}

interface ImageDetails extends ManifestSummary {
  repository: string;
  manifestSize: number;
  pushedAt: number;
  tags: string[];
  annotations?: Record<string, string>;
  manifests?: Array<Blob & { platform?: string; artifactType?: string }>;
  config?: Blob & {
    created?: string;
    architecture?: string;
    os?: string;
    entrypoint?: string[];
    cmd?: string[];
    env?: string[];
    workingDir?: string;
    user?: string;
    labels?: Record<string, string>;
    history?: Array<{ created?: string; createdBy?: string; comment?: string; emptyLayer?: boolean }>;
  };
  layers?: Blob[];
  referrers: Array<{ group: string; artifactType: string; items: Blob[] }>;
  raw: string;
  canDelete: boolean;
}

const GROUP_TITLES: Record<string, string> = { signature: 'Signatures', sbom: 'SBOMs', attestation: 'Attestations', other: 'Other artifacts' };

function facts(rows: Array<[string, Child]>): HTMLElement {
  return h('dl', { class: 'facts' }, rows.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function mapTable(caption: string, map: Record<string, string> | undefined): Child {
  if (!map || Object.keys(map).length === 0) return null;
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', {}, Object.entries(map).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, h('code', {}, k)), h('td', {}, v)))),
  );
}

function blobTable(caption: string, blobs: Blob[], extra?: { head: string; cell: (b: Blob, i: number) => Child }): HTMLElement {
  const total = blobs.reduce((sum, b) => sum + b.size, 0);
  return h(
    'table',
    {},
    h('caption', {}, `${caption} (${blobs.length}, ${bytes(total)})`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), extra ? h('th', { scope: 'col' }, extra.head) : null, h('th', { scope: 'col' }, 'Digest'), h('th', { scope: 'col' }, 'Media type'), h('th', { scope: 'col', class: 'num' }, 'Size'))),
    h(
      'tbody',
      {},
      blobs.map((b, i) => h('tr', {}, h('td', {}, i + 1), extra ? h('td', {}, extra.cell(b, i)) : null, h('td', {}, h('code', { class: 'digest' }, b.digest)), h('td', {}, b.mediaType), h('td', { class: 'num' }, bytes(b.size)))),
    ),
  );
}

function configSection(c: NonNullable<ImageDetails['config']>): Child {
  return [
    h('h2', {}, 'Configuration'),
    facts([
      ['Created', c.created ? time(c.created) : undefined],
      ['Platform', c.os && c.architecture ? `${c.os}/${c.architecture}` : undefined],
      ['Entrypoint', c.entrypoint ? h('code', {}, JSON.stringify(c.entrypoint)) : undefined],
      ['Command', c.cmd ? h('code', {}, JSON.stringify(c.cmd)) : undefined],
      ['Working directory', c.workingDir],
      ['User', c.user],
      ['Environment', c.env ? h('ul', { class: 'plain' }, c.env.map((e) => h('li', {}, h('code', {}, e)))) : undefined],
      ['Config blob', h('code', { class: 'digest' }, c.digest)],
    ]),
    mapTable('Labels', c.labels),
    c.history && c.history.length > 0
      ? h(
          'details',
          {},
          h('summary', {}, `History (${c.history.length} steps)`),
          h('ol', { class: 'history' }, c.history.map((s) => h('li', {}, h('code', {}, s.createdBy ?? s.comment ?? '(no command)'), s.emptyLayer ? ' (no layer)' : '', s.created ? [' · ', time(s.created)] : null))),
        )
      : null,
  ];
}

function referrersSection(d: ImageDetails): Child {
  if (d.referrers.length === 0) return [h('h2', {}, 'Referrers'), h('p', {}, 'Nothing refers to this manifest (no signature, SBOM or attestation).')];
  return [
    h('h2', {}, 'Referrers'),
    d.referrers.map((g) =>
      h(
        'section',
        { 'aria-label': `${GROUP_TITLES[g.group] ?? g.group}: ${g.artifactType}` },
        h('h3', {}, `${GROUP_TITLES[g.group] ?? g.group} `, h('small', {}, g.artifactType)),
        h('ul', { class: 'plain' }, g.items.map((r) => h('li', {}, h('a', { href: href('image', { name: d.repository, ref: r.digest }) }, h('code', {}, r.digest)), ` · ${bytes(r.size)}`, r.annotations?.['org.opencontainers.image.created'] ? [' · ', time(r.annotations['org.opencontainers.image.created'])] : null))),
      ),
    ),
  ];
}

export async function imagePage(params: URLSearchParams): Promise<Page> {
  const name = params.get('name') ?? '';
  const ref = params.get('ref') ?? '';
  const d = await api<ImageDetails>('image', { name, ref });
  const tagRef = ref.includes(':') ? undefined : ref;
  return {
    title: `${name}${tagRef ? `:${tagRef}` : `@${d.digest.slice(0, 19)}…`}`,
    content: [
      h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: href('repositories') }, 'Repositories'), ' / ', h('a', { href: href('repository', { name }) }, name)),
      facts([
        ['Digest', h('code', { class: 'digest' }, d.digest)],
        ['Type', `${kindLabel(d)} · ${d.mediaType}`],
        ['Size', `${bytes(d.size)} (manifest ${bytes(d.manifestSize)})`],
        ['Pushed', time(d.pushedAt)],
        ['Tags', d.tags.length > 0 ? d.tags.map((t, i) => [i > 0 ? ', ' : '', h('a', { href: href('image', { name, ref: t }) }, t)]) : 'none'],
        ['Subject', d.subject ? h('a', { href: href('image', { name, ref: d.subject }) }, h('code', {}, d.subject)) : undefined],
      ]),
      d.manifests ? [h('h2', {}, 'Platforms'), blobTable('Manifests of this index', d.manifests, { head: 'Platform', cell: (_b, i) => { const m = d.manifests![i]!; return h('a', { href: href('image', { name, ref: m.digest }) }, m.platform ?? m.artifactType ?? 'unknown'); } })] : null,
      d.config && d.kind === 'image' ? configSection(d.config) : d.config ? [h('h2', {}, 'Config'), facts([['Config blob', h('code', { class: 'digest' }, d.config.digest)], ['Media type', d.config.mediaType], ['Size', bytes(d.config.size)]])] : null,
      d.layers && d.layers.length > 0 ? [h('h2', {}, d.kind === 'image' ? 'Layers' : 'Blobs'), blobTable(d.kind === 'image' ? 'Layers, base first' : 'Blobs', d.layers)] : null,
      d.annotations ? [h('h2', {}, 'Annotations'), mapTable('Annotations of the manifest', d.annotations)] : null,
      referrersSection(d),
      pullSection(name, tagRef ?? d.digest, tagRef ? 'Pull by tag' : 'Pull by digest'),
      tagRef ? pullSection(name, d.digest, 'Pull by digest') : null,
      h('h2', {}, 'Raw manifest'),
      h('details', {}, h('summary', {}, 'Show the manifest JSON'), h('pre', { tabindex: '0', 'aria-label': 'Manifest JSON' }, h('code', {}, prettyJson(d.raw)))),
      d.canDelete
        ? [
            h('h2', {}, 'Delete'),
            h('p', { class: 'buttons' }, tagRef ? deleteButton(name, tagRef, `Delete tag ${tagRef}`, backToRepository(name)) : null, deleteButton(name, d.digest, 'Delete manifest', backToRepository(name))),
          ]
        : null,
    ],
  };
}

function prettyJson(raw: string): string {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}
