/**
 * Seeding a registry with skopeo (Debian's package; nothing downloaded): an
 * OCI image layout written to disk (OciLayout), then `skopeo copy` from it
 * into the running registry over plain HTTP, verbatim (--preserve-digests:
 * the digests pushed are the layout's). skopeoMissing() gives the skip reason.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { digestOf } from '../src/oci/digest.js';

const run = promisify(execFile);

/** What to run when skopeo is missing (tests skip with it). */
export const SKOPEO_INSTALL = 'apt-get install -y skopeo';

/** The skip reason when skopeo is not on the PATH, else undefined. */
export function skopeoMissing(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, 'skopeo'), constants.X_OK);
      return undefined;
    } catch {
      // not here
    }
  }
  return `skopeo is not installed: ${SKOPEO_INSTALL}`;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/** An OCI image layout (image-spec image-layout.md) being written: blobs first, then index.json by close(). */
export class OciLayout {
  readonly #refs: Array<Descriptor & { annotations: Record<string, string> }> = [];
  private constructor(readonly dir: string) {}

  static async create(dir: string): Promise<OciLayout> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    return new OciLayout(dir);
  }

  /** Writes a blob; its digest and size. */
  async blob(bytes: Buffer): Promise<{ digest: string; size: number }> {
    const digest = digestOf(bytes);
    await writeFile(join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
    return { digest, size: bytes.length };
  }

  /** Writes a manifest (JSON, as given) as a blob, named `ref` in index.json when given. */
  async manifest(manifest: unknown, mediaType: string, ref?: string): Promise<Descriptor> {
    const descriptor = { mediaType, ...(await this.blob(Buffer.from(JSON.stringify(manifest)))) };
    if (ref !== undefined) this.#refs.push({ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': ref } });
    return descriptor;
  }

  /** Writes index.json with the named manifests. */
  async close(): Promise<void> {
    await writeFile(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: this.#refs }));
  }
}

export interface SkopeoTarget {
  /** host:port of the registry (plain HTTP). */
  readonly host: string;
  /** user:password, when the registry wants credentials. */
  readonly creds?: string;
}

/**
 * `skopeo copy --all --preserve-digests oci:<layout>:<ref> docker://<host>/<destination>`
 * (destination: `repo:tag`, or `repo@digest` for an untagged manifest).
 */
export async function skopeoPush(layout: OciLayout, ref: string, target: SkopeoTarget, destination: string): Promise<void> {
  const args = ['--insecure-policy', 'copy', '--all', '--preserve-digests', '--quiet', '--dest-tls-verify=false'];
  if (target.creds) args.push('--dest-creds', target.creds);
  await run('skopeo', [...args, `oci:${layout.dir}:${ref}`, `docker://${target.host}/${destination}`], { timeout: 120_000 });
}
