/**
 * The web UI's view of stored manifests (image-spec manifest.md,
 * image-index.md, config.md): summaries for lists, details for an image page.
 * Manifests were validated when pushed; here they are read leniently, a
 * field of an unexpected type is left out.
 */
import { tryParseDigest } from '../oci/digest.js';
import { INDEX_MEDIA_TYPES } from '../oci/mediatypes.js';
import type { ManifestRecord, ReferrerRecord } from '../storage/meta/types.js';
import type { BlobService } from './blobs.js';

export interface ManifestSummary {
  readonly digest: string;
  readonly mediaType: string;
  readonly kind: 'index' | 'image' | 'artifact';
  readonly artifactType?: string;
  /** `os/architecture[/variant]` of an index's entries, or of nothing. */
  readonly platforms?: string[];
  /** The manifest and the blobs it lists; an index: the manifest and its entries' sizes (BrowseService adds their blobs). */
  readonly size: number;
  readonly subject?: string;
}

export interface BlobEntry {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly annotations?: Record<string, string>;
}

export interface ConfigDetails {
  readonly created?: string;
  readonly architecture?: string;
  readonly os?: string;
  readonly entrypoint?: string[];
  readonly cmd?: string[];
  readonly env?: string[];
  readonly workingDir?: string;
  readonly user?: string;
  readonly labels?: Record<string, string>;
  readonly history?: Array<{ created?: string; createdBy?: string; comment?: string; emptyLayer?: boolean }>;
}

export type ReferrerGroup = 'signature' | 'sbom' | 'attestation' | 'other';

export interface ImageDetails extends ManifestSummary {
  /** Bytes of the manifest itself. */
  readonly manifestSize: number;
  readonly pushedAt: number;
  readonly tags: string[];
  readonly annotations?: Record<string, string>;
  /** An index's entries. */
  readonly manifests?: Array<BlobEntry & { readonly platform?: string; readonly artifactType?: string }>;
  readonly config?: BlobEntry & ConfigDetails;
  readonly layers?: BlobEntry[];
  readonly referrers: Array<{ readonly group: ReferrerGroup; readonly artifactType: string; readonly items: Array<Omit<BlobEntry, 'annotations'> & { annotations?: Record<string, string> }> }>;
  /** The manifest's exact bytes, as text. */
  readonly raw: string;
}

/** Config blobs larger than this are not read for the image page. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);
const stringMap = (v: unknown): Record<string, string> | undefined =>
  isObj(v) && Object.values(v).every((x) => typeof x === 'string') && Object.keys(v).length > 0 ? (v as Record<string, string>) : undefined;
const opt = <K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } => (value === undefined ? {} : ({ [key]: value } as { [k in K]: V }));

function parse(record: ManifestRecord): Obj {
  try {
    const value: unknown = JSON.parse(Buffer.from(record.bytes).toString('utf8'));
    return isObj(value) ? value : {};
  } catch {
    return {};
  }
}

function entry(value: unknown): BlobEntry | undefined {
  if (!isObj(value) || typeof value.digest !== 'string' || typeof value.size !== 'number') return undefined;
  return { digest: value.digest, size: value.size, mediaType: str(value.mediaType) ?? '', ...opt('annotations', stringMap(value.annotations)) };
}

function entries(value: unknown): BlobEntry[] {
  return Array.isArray(value) ? value.map(entry).filter((e): e is BlobEntry => e !== undefined) : [];
}

/** `os/architecture[/variant]` of an image-index platform object. */
export function platformOf(value: unknown): string | undefined {
  if (!isObj(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') return undefined;
  return [value.os, value.architecture, ...(typeof value.variant === 'string' ? [value.variant] : [])].join('/');
}

/** The config and layers (blobs) of an image manifest; none for an index. */
export function blobsOf(record: ManifestRecord): BlobEntry[] {
  const m = parse(record);
  if (INDEX_MEDIA_TYPES.has(record.mediaType)) return [];
  const config = entry(m.config);
  return [...(config ? [config] : []), ...entries(m.layers), ...entries(m.blobs)];
}

/** The entries of an index (none for an image). */
export function indexEntries(record: ManifestRecord): BlobEntry[] {
  return INDEX_MEDIA_TYPES.has(record.mediaType) ? entries(parse(record).manifests) : [];
}

function kindOf(record: ManifestRecord, m: Obj): ManifestSummary['kind'] {
  if (INDEX_MEDIA_TYPES.has(record.mediaType)) return 'index';
  const config = entry(m.config);
  return typeof m.artifactType === 'string' || (config !== undefined && !IMAGE_CONFIG_TYPES.has(config.mediaType)) ? 'artifact' : 'image';
}

export function summarize(record: ManifestRecord): ManifestSummary {
  const m = parse(record);
  const kind = kindOf(record, m);
  const children = kind === 'index' ? entries(m.manifests) : [];
  const platforms =
    kind === 'index' ? (Array.isArray(m.manifests) ? m.manifests.map((d) => (isObj(d) ? platformOf(d.platform) : undefined)).filter((p): p is string => p !== undefined) : []) : undefined;
  const size = record.size + (kind === 'index' ? children : blobsOf(record)).reduce((sum, b) => sum + b.size, 0);
  return {
    digest: record.digest,
    mediaType: record.mediaType,
    kind,
    size,
    // The stored artifactType falls back to the config's media type (spec "Listing Referrers"): an image has none here.
    ...opt('artifactType', kind === 'image' ? undefined : record.artifactType),
    ...opt('platforms', platforms),
    ...opt('subject', record.subject),
  };
}

/** Which shelf of the image page a referrer goes on, by its artifactType. */
export function referrerGroup(artifactType: string): ReferrerGroup {
  const t = artifactType.toLowerCase();
  if (/signature|\.sig\b|sig\.v1|sigstore\.bundle/.test(t)) return 'signature';
  if (/spdx|cyclonedx|sbom|syft/.test(t)) return 'sbom';
  if (/in-toto|intoto|attestation|provenance|slsa|vex/.test(t)) return 'attestation';
  return 'other';
}

export function describeManifest(record: ManifestRecord, tags: string[], referrers: readonly ReferrerRecord[]): ImageDetails {
  const m = parse(record);
  const summary = summarize(record);
  const groups = new Map<string, ImageDetails['referrers'][number]>();
  for (const r of referrers) {
    const artifactType = r.artifactType ?? r.mediaType;
    let group = groups.get(artifactType);
    if (!group) groups.set(artifactType, (group = { group: referrerGroup(artifactType), artifactType, items: [] }));
    group.items.push({ digest: r.digest, mediaType: r.mediaType, size: r.size, ...opt('annotations', r.annotations && Object.keys(r.annotations).length > 0 ? { ...r.annotations } : undefined) });
  }
  const order: ReferrerGroup[] = ['signature', 'sbom', 'attestation', 'other'];
  const config = summary.kind === 'index' ? undefined : entry(m.config);
  return {
    ...summary,
    manifestSize: record.size,
    pushedAt: record.createdAt,
    tags,
    ...opt('annotations', stringMap(m.annotations)),
    ...(summary.kind === 'index'
      ? { manifests: (Array.isArray(m.manifests) ? m.manifests : []).flatMap((d) => { const e = entry(d); return e && isObj(d) ? [{ ...e, ...opt('platform', platformOf(d.platform)), ...opt('artifactType', str(d.artifactType)) }] : []; }) }
      : { layers: [...entries(m.layers), ...entries(m.blobs)] }),
    ...opt('config', config),
    referrers: [...groups.values()].sort((a, b) => order.indexOf(a.group) - order.indexOf(b.group) || (a.artifactType < b.artifactType ? -1 : 1)),
    raw: Buffer.from(record.bytes).toString('utf8'),
  };
}

/** The parts of an image config the UI shows; undefined when it is not an image config, too large, or not JSON. */
export async function readConfig(blobs: BlobService, repository: string, digest: string, signal?: AbortSignal): Promise<ConfigDetails | undefined> {
  // A digest read leniently from stored bytes: parsed here, one that is not a digest names no config.
  const parsed = tryParseDigest(digest);
  const link = parsed === undefined ? undefined : await blobs.stat(repository, parsed.digest, signal).catch(() => undefined);
  if (!link || link.size > MAX_CONFIG_BYTES) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.read(link, repository, undefined, signal)) chunks.push(chunk as Buffer);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObj(value)) return undefined;
  const c = isObj(value.config) ? value.config : {};
  const history = Array.isArray(value.history)
    ? value.history.filter(isObj).map((h) => ({ ...opt('created', str(h.created)), ...opt('createdBy', str(h.created_by)), ...opt('comment', str(h.comment)), ...(h.empty_layer === true ? { emptyLayer: true } : {}) }))
    : undefined;
  return {
    ...opt('created', str(value.created)),
    ...opt('architecture', str(value.architecture)),
    ...opt('os', str(value.os)),
    ...opt('entrypoint', strings(c.Entrypoint)),
    ...opt('cmd', strings(c.Cmd)),
    ...opt('env', strings(c.Env)),
    ...opt('workingDir', str(c.WorkingDir) || undefined),
    ...opt('user', str(c.User) || undefined),
    ...opt('labels', stringMap(c.Labels)),
    ...opt('history', history),
  };
}
