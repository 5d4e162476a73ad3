/**
 * The clients that Debian 12 does not ship (crane, oras, regctl, cosign,
 * notation, helm) live in a cache dir that test/interop/clients/fetch-clients.sh
 * fills (.ci/run calls it): $FERRO_OCI_INTEROP_CLIENTS/bin, by default
 * ${XDG_CACHE_HOME:-~/.cache}/ferro-oci-server/interop-clients/bin. A suite
 * whose binary is missing is skipped with the command that fetches it.
 *
 * Every driver runs its binary with a private HOME, DOCKER_CONFIG and XDG
 * dirs under the mode's temp dir, so that no client reads or writes the
 * machine's credentials, trust stores or caches.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { run, type CommandResult, type RunOptions } from '../harness.js';
import { fileDigest, type BuiltImages, type Descriptor } from '../images.js';

export const FETCH_SCRIPT = 'test/interop/clients/fetch-clients.sh';

export type FetchedName = 'crane' | 'oras' | 'oras-1.2' | 'regctl' | 'cosign' | 'cosign-2.5' | 'notation' | 'helm' | 'helm-3';

export function clientsDir(): string {
  return process.env.FERRO_OCI_INTEROP_CLIENTS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ferro-oci-server', 'interop-clients');
}

export function fetchedBinary(name: FetchedName): string {
  return join(clientsDir(), 'bin', name);
}

/** The pinned version the fetch script recorded (bin/<name>.version). */
export function fetchedVersion(name: FetchedName): string {
  try {
    return readFileSync(`${fetchedBinary(name)}.version`, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** Why a suite needing `names` cannot run (a binary is missing, with the command that fetches it), or undefined. */
export function missingFetched(...names: FetchedName[]): string | undefined {
  const missing = names.filter((n) => !existsSync(fetchedBinary(n)));
  if (missing.length === 0) return undefined;
  const dir = process.env.FERRO_OCI_INTEROP_CLIENTS ? ` "${clientsDir()}"` : '';
  const command = missing.includes('regctl') ? `REGCLIENT_SRC=<path to regclient-v0.11.5.tar.gz> ${FETCH_SCRIPT}${dir}` : `${FETCH_SCRIPT}${dir}`;
  return `${missing.map(fetchedBinary).join(', ')} missing: run \`${command}\``;
}

/** HOME, DOCKER_CONFIG and XDG_* under `dir` (created). */
export async function privateHome(dir: string): Promise<Record<string, string>> {
  const env = {
    HOME: join(dir, 'home'),
    DOCKER_CONFIG: join(dir, 'docker'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    XDG_DATA_HOME: join(dir, 'data'),
  };
  for (const d of Object.values(env)) await mkdir(d, { recursive: true });
  return env;
}

/** One fetched binary with a private home; `flags` go before the caller's arguments' flags (see run). */
export class FetchedClient {
  protected constructor(
    readonly binary: string,
    readonly env: Record<string, string>,
    /** The client's working directory (inside the mode's temp dir). */
    readonly dir: string,
  ) {}

  protected static async prepare(name: FetchedName, dir: string): Promise<[string, Record<string, string>, string]> {
    const work = join(dir, name);
    await mkdir(work, { recursive: true });
    return [fetchedBinary(name), await privateHome(work), work];
  }

  run(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run(this.binary, args, { cwd: this.dir, ...options, env: { ...this.env, ...options.env } });
  }

  /** Runs a command that must fail; returns its result. */
  async refused(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const r = await this.run(args, { ...options, allowFailure: true });
    if (r.code === 0) throw new Error(`expected to fail, but exited 0: ${r.command}\n${r.stdout.slice(0, 500)}`);
    return r;
  }

  /** stdout, trimmed. */
  async out(args: readonly string[], options: RunOptions = {}): Promise<string> {
    return (await this.run(args, options)).stdout.trim();
  }
}

/**
 * An OCI layout at `dir` whose index.json has only `root` (tagged `ref`),
 * with the test layout's blobs/ linked in: for clients that push "the"
 * image of a layout (crane push).
 */
export async function subLayout(images: BuiltImages, root: Descriptor & { artifactType?: string }, ref: string, dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await symlink(join(images.layout, 'blobs'), join(dir, 'blobs'));
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n');
  const entry = { mediaType: root.mediaType, digest: root.digest, size: root.size, ...(root.artifactType ? { artifactType: root.artifactType } : {}), annotations: { 'org.opencontainers.image.ref.name': ref } };
  await writeFile(join(dir, 'index.json'), `${JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry] })}\n`);
  return dir;
}

/** Asserts that the OCI layout at `dir` holds every digest of `digests` as blobs/sha256/<hex> with matching bytes. */
export async function assertLayoutBlobs(dir: string, digests: readonly string[]): Promise<void> {
  for (const d of digests) {
    const path = join(dir, 'blobs', 'sha256', d.slice('sha256:'.length));
    assert.ok(existsSync(path), `the layout ${dir} lacks the blob ${d}`);
    assert.equal(await fileDigest(path), d, `blob ${d} in ${dir}`);
  }
}
