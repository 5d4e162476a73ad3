/**
 * ORAS CLI driver (oras 1.3 or 1.2). Plain HTTP is given per command by the
 * caller (--plain-http, or --from-plain-http/--to-plain-http for cp): oras
 * has no global flag for it. A private HOME keeps its credential store.
 */
import { readFile } from 'node:fs/promises';
import { digestOf } from '../images.js';
import { FetchedClient, type FetchedName } from './fetched.js';

/** One referrer as `oras discover --format json` prints it (1.3: `referrers`, nested; 1.2: `manifests`, one level). */
export interface Discovered {
  digest: string;
  artifactType?: string;
  referrers?: Discovered[];
}

export class Oras extends FetchedClient {
  static async create(name: Extract<FetchedName, 'oras' | 'oras-1.2'>, dir: string): Promise<Oras> {
    return new Oras(...(await FetchedClient.prepare(name, dir)));
  }

  /** `oras discover --format json`: the direct referrers (with theirs nested, where this oras prints them). */
  async discover(ref: string, extra: readonly string[] = []): Promise<Discovered[]> {
    const doc = JSON.parse(await this.out(['discover', '--plain-http', '--format', 'json', ...extra, ref])) as { referrers?: Discovered[]; manifests?: Discovered[] };
    return doc.referrers ?? doc.manifests ?? [];
  }

  /** `oras attach` of `file` (in the client's dir, as `mediaType`) to `subject`; returns the digest of the manifest it pushed. */
  async attach(subject: string, artifactType: string, file: string, mediaType: string, extra: readonly string[] = []): Promise<string> {
    const exported = `${file}.manifest.json`;
    await this.run(['attach', '--no-tty', '--plain-http', '--artifact-type', artifactType, '--export-manifest', exported, ...extra, subject, `${file}:${mediaType}`]);
    return digestOf(await readFile(`${this.dir}/${exported}`));
  }
}
