/**
 * Manifest and index parsing (image-spec manifest.md, image-index.md,
 * descriptor.md) and the facts the registry needs from them: which blobs and
 * child manifests must exist, the subject, the artifactType.
 */
import { RegistryError } from './errors.js';
import { parseDigest, type Digest } from './digest.js';
import { parseIJson } from './json.js';
import { bareMediaType, IMAGE_MEDIA_TYPES, INDEX_MEDIA_TYPES, MediaType } from './mediatypes.js';

export interface Descriptor {
  mediaType: string;
  /** Parsed here (parseDescriptor): the stores take it as it is. */
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: unknown;
  data?: string;
}

export interface ParsedManifest {
  /** The media type stored with the manifest and served as Content-Type. */
  readonly mediaType: string;
  readonly kind: 'image' | 'index';
  /** Blobs (config, layers) that must be linked in the repository. */
  readonly blobs: readonly Descriptor[];
  /** Child manifests (index entries) that must exist in the repository. */
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  /** Value for a referrers descriptor (spec "Listing Referrers"). */
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

const FOREIGN_LAYER_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function invalid(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where}.annotations must be an object of strings`);
  }
  return value as Record<string, string>;
}

/** Validates one descriptor (descriptor.md "Properties"). Throws MANIFEST_INVALID. */
export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE_RE.test(mediaType)) throw invalid(`${where}.mediaType must be a media type string`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest must be a string`);
  let parsed: Digest;
  try {
    parsed = parseDigest(digest).digest;
  } catch (err) {
    throw invalid(`${where}.digest: ${(err as Error).message}`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  const descriptor: Descriptor = { mediaType, digest: parsed, size };
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) throw invalid(`${where}.urls must be an array of strings`);
    descriptor.urls = value.urls as string[];
  }
  const annotations = parseAnnotations(value.annotations, where);
  if (annotations) descriptor.annotations = annotations;
  if (value.artifactType !== undefined) {
    if (typeof value.artifactType !== 'string' || !MEDIA_TYPE_RE.test(value.artifactType)) throw invalid(`${where}.artifactType must be a media type string`);
    descriptor.artifactType = value.artifactType;
  }
  if (value.platform !== undefined) descriptor.platform = value.platform;
  return descriptor;
}

function parseDescriptorList(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array of descriptors`);
  return value.map((entry, i) => parseDescriptor(entry, `${where}[${i}]`));
}

/** Whether a layer may legitimately be absent from the registry (foreign / non-distributable with urls). */
function isForeign(layer: Descriptor): boolean {
  return FOREIGN_LAYER_TYPES.has(layer.mediaType) && (layer.urls?.length ?? 0) > 0;
}

/**
 * Parses manifest bytes as pushed with `contentType`. Rules (spec "Pushing
 * Manifests"): when the body has `mediaType`, the Content-Type MUST equal it;
 * the stored media type is the Content-Type when given, else the body's
 * `mediaType`, else inferred from the shape. Accepts OCI image manifests and
 * indexes (with any artifactType / config media type) and Docker schema2
 * manifests and manifest lists. The bytes MUST be I-JSON (image-spec; see
 * json.ts): duplicate member names and the like are refused. Throws
 * MANIFEST_INVALID with a reason.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = parseIJson(bytes);
  } catch (err) {
    throw invalid(`manifest is not valid I-JSON: ${err instanceof RangeError ? 'nested too deeply' : (err as Error).message}`);
  }
  if (!isObject(doc)) throw invalid('manifest must be a JSON object');
  if (doc.schemaVersion !== 2) {
    throw invalid(doc.schemaVersion === 1 ? 'Docker schema1 manifests are not supported' : 'manifest schemaVersion must be 2');
  }
  const header = bareMediaType(contentType);
  const declared = doc.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('manifest mediaType must be a string');
  if (declared !== undefined && header !== undefined && header !== declared.toLowerCase() && header !== MediaType.OctetStream) {
    throw invalid(`Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  }
  let mediaType = declared ?? (header !== MediaType.OctetStream ? header : undefined);
  if (mediaType === undefined) {
    if (Array.isArray(doc.manifests)) mediaType = MediaType.OciIndex;
    else if (doc.config !== undefined) mediaType = MediaType.OciManifest;
    else throw invalid('manifest has no mediaType and no Content-Type: cannot tell what it is');
  }
  const artifactType = doc.artifactType;
  if (artifactType !== undefined && (typeof artifactType !== 'string' || !MEDIA_TYPE_RE.test(artifactType))) {
    throw invalid('artifactType must be a media type string');
  }
  const subject = doc.subject === undefined ? undefined : parseDescriptor(doc.subject, 'subject');
  const annotations = parseAnnotations(doc.annotations, 'manifest');
  const base = { mediaType, ...(subject ? { subject } : {}), ...(annotations ? { annotations } : {}) };

  if (IMAGE_MEDIA_TYPES.has(mediaType)) {
    const config = parseDescriptor(doc.config, 'config');
    const layers = doc.layers === undefined && mediaType === MediaType.OciManifest ? [] : parseDescriptorList(doc.layers, 'layers');
    return {
      ...base,
      kind: 'image',
      blobs: [config, ...layers.filter((layer) => !isForeign(layer))],
      manifests: [],
      artifactType: (artifactType as string | undefined) || config.mediaType,
    };
  }
  if (INDEX_MEDIA_TYPES.has(mediaType)) {
    const manifests = parseDescriptorList(doc.manifests, 'manifests');
    return { ...base, kind: 'index', blobs: [], manifests, ...(artifactType ? { artifactType: artifactType as string } : {}) };
  }
  throw invalid(`unsupported manifest media type ${mediaType}`);
}
