/**
 * Notary Project notation driver, offline: a self-signed test key and
 * certificate from `notation cert generate-test` (its configuration and
 * trust store live under the private XDG_CONFIG_HOME), a trust policy
 * imported with `notation policy import`. Plain HTTP: --insecure-registry.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandResult, RunOptions } from '../harness.js';
import { FetchedClient } from './fetched.js';

export class Notation extends FetchedClient {
  static async create(dir: string): Promise<Notation> {
    return new Notation(...(await FetchedClient.prepare('notation', dir)));
  }

  /** `notation <sub> --insecure-registry …`. */
  registry(sub: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.run([sub, '--insecure-registry', ...args], options);
  }

  /** Imports a trust policy that trusts only the certificates of trust store ca:`store`, for every registry scope. */
  async trustOnly(store: string): Promise<void> {
    const policy = {
      version: '1.0',
      trustPolicies: [{ name: 'interop', registryScopes: ['*'], signatureVerification: { level: 'strict' }, trustStores: [`ca:${store}`], trustedIdentities: ['*'] }],
    };
    const file = join(this.dir, `policy-${store}.json`);
    await writeFile(file, JSON.stringify(policy));
    await this.run(['policy', 'import', '--force', file]);
  }

  /** The digests `notation ls` prints for `ref` (the signatures; the artifact line itself excluded). */
  async list(ref: string, artifact: string): Promise<string[]> {
    const out = (await this.registry('ls', [ref])).stdout;
    return [...new Set([...out.matchAll(/sha256:[0-9a-f]{64}/g)].map((m) => m[0]))].filter((d) => d !== artifact).sort();
  }
}
