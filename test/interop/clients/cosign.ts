/**
 * sigstore cosign driver (3.x, or 2.x), offline: a local key pair made with
 * COSIGN_PASSWORD='' (cosign.key / cosign.pub in the client's dir), no
 * Rekor, Fulcio or TUF. 3.x signs with --use-signing-config=false
 * --tlog-upload=false (without them it fetches a signing config from the
 * TUF CDN); 2.x with --tlog-upload=false. Verify uses --key and
 * --insecure-ignore-tlog=true. Plain HTTP: --allow-http-registry
 * --allow-insecure-registry.
 */
import type { CommandResult, RunOptions } from '../harness.js';
import { FetchedClient, type FetchedName } from './fetched.js';

const HTTP = ['--allow-http-registry', '--allow-insecure-registry'];

export class Cosign extends FetchedClient {
  /** cosign 3.x (sigstore bundles as OCI 1.1 referrers by default). */
  v3 = false;

  static async create(name: Extract<FetchedName, 'cosign' | 'cosign-2.5'>, dir: string): Promise<Cosign> {
    const client = new Cosign(...(await FetchedClient.prepare(name, dir)));
    client.env.COSIGN_PASSWORD = '';
    client.v3 = (await client.run(['sign', '--help'])).stdout.includes('--use-signing-config');
    return client;
  }

  /** Flags that make 3.x write the legacy format (sha256-<hex>.sig / .att tags); none for 2.x. */
  get legacy(): string[] {
    return this.v3 ? ['--new-bundle-format=false'] : [];
  }

  private offline(): string[] {
    return [...HTTP, '--key', 'cosign.key', ...(this.v3 ? ['--use-signing-config=false'] : []), '--tlog-upload=false'];
  }

  sign(ref: string, extra: readonly string[] = [], options: RunOptions = {}): Promise<CommandResult> {
    return this.run(['sign', '-y', ...this.offline(), ...extra, ref], options);
  }

  attest(ref: string, extra: readonly string[] = []): Promise<CommandResult> {
    return this.run(['attest', '-y', ...this.offline(), ...extra, ref]);
  }

  /** `verify` (or `verify-attestation`) with `key` (default the suite's cosign.pub), offline. */
  verify(ref: string, extra: readonly string[] = [], options: RunOptions & { command?: 'verify' | 'verify-attestation'; key?: string } = {}): Promise<CommandResult> {
    return this.run([options.command ?? 'verify', ...HTTP, '--key', options.key ?? 'cosign.pub', '--insecure-ignore-tlog=true', ...extra, ref], options);
  }

  /** Any other subcommand over plain HTTP (download, tree, save, load, clean). */
  http(sub: readonly string[], args: readonly string[]): Promise<CommandResult> {
    return this.run([...sub, ...HTTP, ...args]);
  }
}
