/**
 * Test images for the interop suite, built offline and deterministically
 * (same bytes and digests on every run with the same GNU tar, gzip and
 * busybox-static): layer tars come from `tar` with fixed names, owners, modes
 * and mtimes, compressed with `gzip -n`; the random layer is AES-128-CTR
 * keystream under a fixed key; the JSON documents are written byte for byte
 * here. Nothing is fetched from a network.
 *
 * The OCI image layout (oci-layout, index.json, blobs/sha256/...) holds these
 * refs (annotation org.opencontainers.image.ref.name):
 *   single       linux/amd64, 3 layers: busybox rootfs, RANDOM_LAYER_MIB MiB
 *                of random bytes, a small text file
 *   small        linux/amd64, 1 tiny layer
 *   derived      single's 3 layers + 1 more (shares the base layers)
 *   multi        OCI image index: linux/amd64 + linux/arm64/v8
 *   artifact     OCI 1.1 artifact: artifactType, empty config `{}`
 *                (application/vnd.oci.empty.v1+json), a text/plain layer,
 *                subject -> small
 *   docker-v2s2  Docker schema2 image (Docker media types)
 *   docker-list  Docker manifest list: linux/amd64 + linux/arm64/v8 schema2 images
 * Next to it: single.docker.tar, a docker-archive of `single` for
 * `docker load`; dir-docker-v2s2/ and dir-docker-list/, the two Docker
 * images in the containers/image `dir:` format (its `oci:` transport skips
 * index.json entries with Docker media types); and images.json (all digests,
 * see BuiltImages).
 *
 * The images are cached in one directory per test run (INTEROP_IMAGES, or
 * $TMPDIR/ferro-oci-interop-images-<pid of the node --test runner>), shared
 * by the test files of the run; leftovers of earlier runs are removed.
 */
import { execFile, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, link, lutimes, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Bumped whenever the images change, so that an INTEROP_IMAGES cache of an older build is rebuilt. */
export const IMAGES_VERSION = 1;
export const RANDOM_LAYER_MIB = 30;
/** Fixed mtime of every file in every layer (2023-11-14T22:13:20Z). */
const EPOCH = 1_700_000_000;
const CREATED = '2023-11-14T22:13:20Z';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** Every manifest media type, for Accept headers. */
export const ACCEPT_MANIFESTS = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ');

export const ARTIFACT_TYPE = 'application/vnd.example.interop.sbom';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface LayerInfo extends Descriptor {
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: string;
}

export interface ImageInfo extends Descriptor {
  readonly config: Descriptor;
  readonly layers: readonly LayerInfo[];
  readonly architecture: string;
}

export interface IndexInfo extends Descriptor {
  readonly amd64: ImageInfo;
  readonly arm64: ImageInfo;
}

export interface ArtifactInfo extends Descriptor {
  readonly artifactType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject: Descriptor;
}

export interface BuiltImages {
  readonly version: number;
  /** The cache directory. */
  readonly dir: string;
  /** The OCI image layout. */
  readonly layout: string;
  /** docker-archive of `single`, tagged interop/single:latest. */
  readonly dockerArchive: string;
  /** containers/image `dir:` copies of docker-v2s2 and docker-list. */
  readonly dirDockerV2s2: string;
  readonly dirDockerList: string;
  readonly dockerArchiveTag: string;
  readonly single: ImageInfo;
  readonly small: ImageInfo;
  readonly derived: ImageInfo;
  readonly multi: IndexInfo;
  readonly artifact: ArtifactInfo;
  readonly dockerV2s2: ImageInfo;
  readonly dockerList: IndexInfo;
  /** Size of the random layer in bytes (uncompressed). */
  readonly randomBytes: number;
}

export type LayoutRef = 'single' | 'small' | 'derived' | 'multi' | 'artifact' | 'docker-v2s2' | 'docker-list';

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function digestOf(bytes: Uint8Array | string): string {
  return `sha256:${sha256Hex(bytes)}`;
}

export async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return `sha256:${hash.digest('hex')}`;
}

/** The path of a blob in an OCI layout. */
export function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The cache dir of this run, and removal of the caches of earlier runs whose runner is gone. */
async function cacheDir(): Promise<string> {
  const given = process.env.INTEROP_IMAGES;
  if (given !== undefined && given !== '') return given;
  const base = tmpdir();
  const prefix = 'ferro-oci-interop-images-';
  for (const name of await readdir(base).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.ppid && !isAlive(pid)) {
      await rm(join(base, name), { recursive: true, force: true }).catch(() => undefined);
    }
  }
  // The test runner is the parent of every test file process: one cache per run.
  return join(base, `${prefix}${process.ppid}`);
}

type PathKeys = 'dir' | 'layout' | 'dockerArchive' | 'dirDockerV2s2' | 'dirDockerList';

function pathsOf(root: string): Pick<BuiltImages, PathKeys> {
  return {
    dir: root,
    layout: join(root, 'oci'),
    dockerArchive: join(root, 'single.docker.tar'),
    dirDockerV2s2: join(root, 'dir-docker-v2s2'),
    dirDockerList: join(root, 'dir-docker-list'),
  };
}

let building: Promise<BuiltImages> | undefined;

/** Builds the images into the run's cache dir unless they are there already; returns their digests. */
export function ensureImages(): Promise<BuiltImages> {
  building ??= (async () => {
    const dir = await cacheDir();
    const loaded = await loadImages(dir);
    if (loaded) return loaded;
    await mkdir(dir, { recursive: true });
    // Build next to the final place and rename: concurrent builders do not see half a build.
    const work = await mkdtemp(join(dir, '.build.'));
    try {
      await buildImages(work);
      const images = join(dir, 'images');
      try {
        await rename(join(work, 'images'), images);
      } catch {
        // Another builder of this run won the race, or an INTEROP_IMAGES dir holds an older build.
        const again = await loadImages(dir);
        if (again) return again;
        await rm(images, { recursive: true, force: true });
        await rename(join(work, 'images'), images);
      }
      const result = await loadImages(dir);
      if (!result) throw new Error(`images built in ${dir} but images.json is unreadable`);
      return result;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  })();
  return building;
}

async function loadImages(dir: string): Promise<BuiltImages | undefined> {
  try {
    const text = await readFile(join(dir, 'images', 'images.json'), 'utf8');
    const parsed = JSON.parse(text) as Omit<BuiltImages, PathKeys>;
    if (parsed.version !== IMAGES_VERSION) return undefined;
    return { ...parsed, ...pathsOf(join(dir, 'images')) };
  } catch {
    return undefined;
  }
}

/** Canonical JSON bytes (no whitespace, keys in the order given). */
function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

class LayoutWriter {
  constructor(readonly layout: string) {}

  async init(): Promise<void> {
    await mkdir(join(this.layout, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(this.layout, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  }

  async putBytes(bytes: Buffer): Promise<{ digest: string; size: number }> {
    const digest = digestOf(bytes);
    await writeFile(blobPath(this.layout, digest), bytes);
    return { digest, size: bytes.length };
  }

  async putFile(path: string): Promise<{ digest: string; size: number }> {
    const digest = await fileDigest(path);
    const { size } = await stat(path);
    await copyFile(path, blobPath(this.layout, digest));
    return { digest, size };
  }
}

/** Sets a fixed mtime on every entry under `dir` (symlinks themselves included). */
async function fixTimes(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) await fixTimes(p);
    await lutimes(p, EPOCH, EPOCH);
  }
}

/** A reproducible tar of the contents of `src` (GNU tar: sorted names, fixed owner/mode bits/mtime). */
async function reproducibleTar(src: string, out: string): Promise<void> {
  await fixTimes(src);
  const entries = (await readdir(src)).sort();
  await execFileP(
    'tar',
    [
      '--sort=name',
      `--mtime=@${EPOCH}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=go-w',
      '--format=gnu',
      '-C',
      src,
      '-cf',
      out,
      '--',
      ...entries,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
}

/** gzip -n -6 of `src` into `out` (no name, no timestamp: reproducible). */
async function gzipFile(src: string, out: string): Promise<void> {
  const child = spawn('gzip', ['-n', '-6', '-c', src], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  await pipeline(child.stdout, createWriteStream(out));
  const code = await exited;
  if (code !== 0) throw new Error(`gzip -n -6 ${src} exited ${code}: ${stderr}`);
}

/** Writes `bytes` pseudo-random bytes: AES-128-CTR keystream under a fixed key and IV (seeded, reproducible). */
async function writeRandom(path: string, bytes: number): Promise<void> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'), Buffer.alloc(16));
  const chunk = Buffer.alloc(1024 * 1024);
  const file = createWriteStream(path);
  for (let written = 0; written < bytes; written += chunk.length) {
    const part = cipher.update(chunk.subarray(0, Math.min(chunk.length, bytes - written)));
    if (!file.write(part)) await new Promise<void>((r) => file.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => {
    file.once('error', reject);
    file.end(() => resolve());
  });
}

interface BuiltLayer {
  readonly digest: string;
  readonly size: number;
  readonly diffId: string;
  /** The uncompressed tar (kept for the docker-archive). */
  readonly tarPath: string;
}

async function buildImages(work: string): Promise<BuiltImages> {
  const root = join(work, 'images');
  const layoutDir = join(root, 'oci');
  const src = join(work, 'src');
  const tars = join(work, 'tars');
  await mkdir(tars, { recursive: true });
  const layout = new LayoutWriter(layoutDir);
  await layout.init();

  const busybox = '/bin/busybox';
  if (!existsSync(busybox)) throw new Error(`${busybox} is missing: install the Debian package busybox-static`);

  /** Makes a layer from files: `files` maps a path to content (string/Buffer), {link}, {copy}, or {random}. */
  type FileSpec = string | Buffer | { link: string } | { copy: string; mode: number } | { random: number };
  const layer = async (name: string, files: Record<string, FileSpec>): Promise<BuiltLayer> => {
    const dir = join(src, name);
    for (const [path, spec] of Object.entries(files)) {
      const p = join(dir, path);
      const parent = p.slice(0, p.lastIndexOf('/'));
      await mkdir(parent, { recursive: true });
      if (typeof spec === 'string' || Buffer.isBuffer(spec)) {
        await writeFile(p, spec);
        await chmod(p, 0o644);
      } else if ('link' in spec) {
        await symlink(spec.link, p);
      } else if ('copy' in spec) {
        await copyFile(spec.copy, p);
        await chmod(p, spec.mode);
      } else {
        await writeRandom(p, spec.random);
        await chmod(p, 0o644);
      }
    }
    // Directories: 0755 whatever the umask.
    const fixDirs = async (d: string): Promise<void> => {
      await chmod(d, 0o755);
      for (const e of await readdir(d, { withFileTypes: true })) if (e.isDirectory()) await fixDirs(join(d, e.name));
    };
    await fixDirs(dir);
    const tarPath = join(tars, `${name}.tar`);
    await reproducibleTar(dir, tarPath);
    const diffId = await fileDigest(tarPath);
    await gzipFile(tarPath, `${tarPath}.gz`);
    const blob = await layout.putFile(`${tarPath}.gz`);
    return { ...blob, diffId, tarPath };
  };

  const randomBytes = RANDOM_LAYER_MIB * 1024 * 1024;
  const base = await layer('busybox', {
    'bin/busybox': { copy: busybox, mode: 0o755 },
    'bin/sh': { link: 'busybox' },
    'bin/cat': { link: 'busybox' },
    'bin/ls': { link: 'busybox' },
    'bin/echo': { link: 'busybox' },
  });
  const random = await layer('random', { 'data/random.bin': { random: randomBytes } });
  const text = await layer('text', { 'etc/interop-test': 'ferro-oci-server interop test image: single\n' });
  const smallLayer = await layer('small', { 'etc/interop-test': 'ferro-oci-server interop test image: small\n' });
  const extra = await layer('derived', { 'etc/derived': 'ferro-oci-server interop test image: derived\n' });
  const amdLayer = await layer('amd64', { 'etc/platform': 'linux/amd64\n' });
  const armLayer = await layer('arm64', { 'etc/platform': 'linux/arm64\n' });
  const dockerLayer = await layer('docker', { 'etc/interop-docker': 'ferro-oci-server interop test image: docker schema2\n' });

  const image = async (
    arch: 'amd64' | 'arm64',
    cmd: string[],
    layers: readonly BuiltLayer[],
    docker = false,
  ): Promise<ImageInfo & { configBytes: Buffer }> => {
    const configBytes = json({
      created: CREATED,
      architecture: arch,
      ...(arch === 'arm64' ? { variant: 'v8' } : {}),
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: cmd, Labels: { 'org.example.interop': docker ? 'docker' : 'oci' } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: CREATED, created_by: 'ferro-oci-server test/interop/images.ts' })),
    });
    const cfg = await layout.putBytes(configBytes);
    const config: Descriptor = { mediaType: docker ? MT.dockerConfig : MT.ociConfig, ...cfg };
    const layerDescs: LayerInfo[] = layers.map((l) => ({ mediaType: docker ? MT.dockerLayer : MT.ociLayer, digest: l.digest, size: l.size, diffId: l.diffId }));
    const manifest = json({
      schemaVersion: 2,
      mediaType: docker ? MT.dockerManifest : MT.ociManifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layerDescs.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    });
    const m = await layout.putBytes(manifest);
    return { mediaType: docker ? MT.dockerManifest : MT.ociManifest, ...m, config, layers: layerDescs, architecture: arch, configBytes };
  };

  const index = async (amd64: ImageInfo, arm64: ImageInfo, docker = false): Promise<IndexInfo> => {
    const mediaType = docker ? MT.dockerList : MT.ociIndex;
    const bytes = json({
      schemaVersion: 2,
      mediaType,
      manifests: [
        { mediaType: amd64.mediaType, digest: amd64.digest, size: amd64.size, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: arm64.mediaType, digest: arm64.digest, size: arm64.size, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      ],
    });
    const d = await layout.putBytes(bytes);
    return { mediaType, ...d, amd64, arm64 };
  };

  const strip = <T extends { configBytes: Buffer }>(i: T): Omit<T, 'configBytes'> => {
    const { configBytes: _c, ...rest } = i;
    return rest;
  };

  const catTest = ['/bin/cat', '/etc/interop-test'];
  const catPlatform = ['/bin/cat', '/etc/platform'];
  const singleFull = await image('amd64', catTest, [base, random, text]);
  const small = strip(await image('amd64', catTest, [smallLayer]));
  const derived = strip(await image('amd64', ['/bin/cat', '/etc/derived'], [base, random, text, extra]));
  const multi = await index(strip(await image('amd64', catPlatform, [smallLayer, amdLayer])), strip(await image('arm64', catPlatform, [smallLayer, armLayer])));
  const dockerV2s2 = strip(await image('amd64', ['/bin/cat', '/etc/interop-docker'], [dockerLayer], true));
  const dockerList = await index(
    strip(await image('amd64', catPlatform, [dockerLayer, amdLayer], true)),
    strip(await image('arm64', catPlatform, [dockerLayer, armLayer], true)),
    true,
  );

  // OCI 1.1 artifact: artifactType, the empty config, one text/plain layer, subject -> small.
  const empty = await layout.putBytes(Buffer.from('{}'));
  const payload = await layout.putBytes(Buffer.from('ferro-oci-server interop SBOM-like payload\n'));
  const artConfig: Descriptor = { mediaType: MT.empty, ...empty };
  const artLayer: Descriptor = { mediaType: 'text/plain', ...payload };
  const subject: Descriptor = { mediaType: small.mediaType, digest: small.digest, size: small.size };
  const artBytes = json({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: ARTIFACT_TYPE,
    config: artConfig,
    layers: [{ ...artLayer, annotations: { 'org.opencontainers.image.title': 'sbom.txt' } }],
    subject,
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  const art = await layout.putBytes(artBytes);
  const artifact: ArtifactInfo = { mediaType: MT.ociManifest, ...art, artifactType: ARTIFACT_TYPE, config: artConfig, layers: [artLayer], subject };

  const single = strip(singleFull);
  const refs: Array<[LayoutRef, Descriptor, string?]> = [
    ['single', single],
    ['small', small],
    ['derived', derived],
    ['multi', multi],
    ['artifact', artifact, ARTIFACT_TYPE],
    ['docker-v2s2', dockerV2s2],
    ['docker-list', dockerList],
  ];
  await writeFile(join(layoutDir, 'index.json'), indexJson(refs));

  // docker-archive of `single` for `docker load` (uncompressed layer tars).
  const dockerArchiveTag = 'interop/single:latest';
  const archiveSrc = join(work, 'docker-archive');
  await mkdir(archiveSrc, { recursive: true });
  const configName = `${single.config.digest.slice(7)}.json`;
  await writeFile(join(archiveSrc, configName), singleFull.configBytes);
  const layerNames: string[] = [];
  for (const l of [base, random, text]) {
    const d = join(archiveSrc, l.diffId.slice(7));
    await mkdir(d);
    await link(l.tarPath, join(d, 'layer.tar')).catch(() => copyFile(l.tarPath, join(d, 'layer.tar')));
    await chmod(join(d, 'layer.tar'), 0o644);
    layerNames.push(`${l.diffId.slice(7)}/layer.tar`);
  }
  await writeFile(join(archiveSrc, 'manifest.json'), json([{ Config: configName, RepoTags: [dockerArchiveTag], Layers: layerNames }]));
  await writeFile(join(archiveSrc, 'repositories'), json({ 'interop/single': { latest: base.diffId.slice(7) } }));
  await chmod(join(archiveSrc, configName), 0o644);
  await chmod(join(archiveSrc, 'manifest.json'), 0o644);
  await chmod(join(archiveSrc, 'repositories'), 0o644);
  await reproducibleTar(archiveSrc, join(root, 'single.docker.tar'));

  const paths = pathsOf(root);
  await writeDirTransport(layoutDir, dockerV2s2, paths.dirDockerV2s2);
  await writeDirTransport(layoutDir, dockerList, paths.dirDockerList);

  const info: Omit<BuiltImages, PathKeys> = {
    version: IMAGES_VERSION,
    dockerArchiveTag,
    single,
    small,
    derived,
    multi,
    artifact,
    dockerV2s2,
    dockerList,
    randomBytes,
  };
  await writeFile(join(root, 'images.json'), JSON.stringify(info, null, 2));
  return { ...info, ...paths };
}

/**
 * Writes the containers/image `dir:` format of `top` (an image or a list):
 * `version`, `manifest.json`, each blob under its hex digest, and for a list
 * each instance manifest as `<hex>.manifest.json`.
 */
async function writeDirTransport(layout: string, top: Descriptor, out: string): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'version'), 'Directory Transport Version: 1.1\n');
  const put = (digest: string, name: string) => link(blobPath(layout, digest), join(out, name)).catch(() => copyFile(blobPath(layout, digest), join(out, name)));
  const image = async (d: Descriptor, manifestName: string) => {
    await put(d.digest, manifestName);
    const doc = JSON.parse(await readFile(blobPath(layout, d.digest), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
    for (const b of [doc.config, ...doc.layers]) if (!existsSync(join(out, b.digest.slice(7)))) await put(b.digest, b.digest.slice(7));
  };
  if (top.mediaType === MT.dockerList || top.mediaType === MT.ociIndex) {
    await put(top.digest, 'manifest.json');
    const doc = JSON.parse(await readFile(blobPath(layout, top.digest), 'utf8')) as { manifests: Descriptor[] };
    for (const m of doc.manifests) await image(m, `${m.digest.slice(7)}.manifest.json`);
  } else {
    await image(top, 'manifest.json');
  }
}

function indexJson(refs: ReadonlyArray<[string, Descriptor, string?]>): Buffer {
  return json({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: refs.map(([name, d, artifactType]) => ({
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      ...(artifactType ? { artifactType } : {}),
      annotations: { 'org.opencontainers.image.ref.name': name },
    })),
  });
}

/** Every blob digest reachable from a descriptor of the layout (manifests, configs, layers, children). */
export async function reachableBlobs(layout: string, root: Descriptor): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (![MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].includes(d.mediaType as never)) return;
    const doc = JSON.parse(await readFile(blobPath(layout, d.digest), 'utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    for (const child of [...(doc.manifests ?? []), ...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) await visit(child);
  };
  await visit(root);
  return seen;
}

/**
 * Writes a tar of an OCI layout that holds only `refs` of `images` (for
 * `ctr images import`, which imports every ref of a layout).
 */
export async function layoutTar(images: BuiltImages, refs: readonly LayoutRef[], out: string): Promise<void> {
  const descriptors: Record<LayoutRef, Descriptor> = {
    single: images.single,
    small: images.small,
    derived: images.derived,
    multi: images.multi,
    artifact: images.artifact,
    'docker-v2s2': images.dockerV2s2,
    'docker-list': images.dockerList,
  };
  const stage = await mkdtemp(join(tmpdir(), 'ferro-oci-layout.'));
  try {
    await mkdir(join(stage, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(stage, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
    const entries: Array<[string, Descriptor, string?]> = [];
    for (const ref of refs) {
      const d = descriptors[ref];
      entries.push([ref, d, ref === 'artifact' ? ARTIFACT_TYPE : undefined]);
      for (const digest of await reachableBlobs(images.layout, d)) {
        const target = blobPath(stage, digest);
        if (existsSync(target)) continue;
        await link(blobPath(images.layout, digest), target).catch(() => copyFile(blobPath(images.layout, digest), target));
      }
    }
    await writeFile(join(stage, 'index.json'), indexJson(entries));
    await execFileP('tar', ['-C', stage, '-cf', out, '--', 'oci-layout', 'index.json', 'blobs']);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
