/**
 * skopeo driver (containers/image, no daemon). Plain HTTP via
 * --src-tls-verify=false / --dest-tls-verify=false / --tls-verify=false;
 * --insecure-policy so no signature policy file is needed. Every command runs
 * with a private containers/image blob-info cache (see withBlobInfoCache).
 * INTEROP_DEBUG=1 adds --debug (every HTTP request and response status).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type CommandResult, type RunOptions } from '../harness.js';
import { withBlobInfoCache } from './blob-info-cache.js';

export class Skopeo {
  private constructor(private readonly bicDir: string) {}

  /** A skopeo whose blob-info cache lives in `dir`/bic. */
  static async create(dir: string): Promise<Skopeo> {
    const bic = join(dir, 'skopeo-bic');
    await mkdir(bic, { recursive: true });
    return new Skopeo(bic);
  }

  /** `options`: e.g. allowFailure for a command that must be refused, input for --password-stdin. */
  async run(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const global = ['--insecure-policy', ...(process.env.INTEROP_DEBUG ? ['--debug'] : [])];
    const [cmd, argv] = await withBlobInfoCache(this.bicDir, 'skopeo', [...global, ...args]);
    return run(cmd, argv, options);
  }

  /** skopeo copy SRC DEST (both may be docker:// over plain HTTP). */
  copy(src: string, dest: string, extra: readonly string[] = []): Promise<CommandResult> {
    return this.run(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...extra, src, dest]);
  }

  /** skopeo inspect, parsed. */
  async inspect<T = Record<string, unknown>>(ref: string, extra: readonly string[] = []): Promise<T> {
    const r = await this.run(['inspect', '--tls-verify=false', ...extra, ref]);
    return JSON.parse(r.stdout) as T;
  }

  /** skopeo inspect --raw (or --config --raw): the exact bytes. */
  async inspectRaw(ref: string, config = false): Promise<Buffer> {
    const r = await this.run(['inspect', '--tls-verify=false', '--raw', ...(config ? ['--config'] : []), ref]);
    return Buffer.from(r.stdout, 'utf8');
  }

  async listTags(ref: string): Promise<string[]> {
    const r = await this.run(['list-tags', '--tls-verify=false', ref]);
    return ((JSON.parse(r.stdout) as { Tags?: string[] }).Tags ?? []).slice().sort();
  }

  delete(ref: string): Promise<CommandResult> {
    return this.run(['delete', '--tls-verify=false', ref]);
  }
}
