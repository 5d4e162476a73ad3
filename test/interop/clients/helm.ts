/**
 * Helm driver (helm 4 or 3, the upstream static binaries): OCI registries
 * over plain HTTP with --plain-http; its cache, configuration and data dirs
 * are under the private XDG dirs. `signingKeys` makes a gpg key in a
 * private GNUPGHOME for signed charts (its agent is stopped by cleanup()).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type CommandResult, type RunOptions } from '../harness.js';
import { FetchedClient, type FetchedName } from './fetched.js';

export class Helm extends FetchedClient {
  static async create(name: Extract<FetchedName, 'helm' | 'helm-3'>, dir: string): Promise<Helm> {
    return new Helm(...(await FetchedClient.prepare(name, dir)));
  }

  /** `helm <args> --plain-http` (push, pull, show, template, dependency update). */
  oci(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.run([...args, '--plain-http'], options);
  }

  /** The digest helm printed after a push (`Digest: sha256:…`). */
  static pushedDigest(r: CommandResult): string {
    const m = /^Digest: (sha256:[0-9a-f]{64})$/m.exec(`${r.stdout}\n${r.stderr}`);
    if (!m) throw new Error(`helm push printed no digest:\n${r.stdout}\n${r.stderr}`);
    return m[1]!;
  }

  private get gnupgHome(): string {
    return join(this.dir, 'gnupg');
  }

  /** A passphrase-less gpg signing key `uid`; returns the exported secret and public keyrings (helm reads keyring files). */
  async signingKeys(uid: string): Promise<{ secring: string; pubring: string }> {
    await mkdir(this.gnupgHome, { recursive: true, mode: 0o700 });
    const env = { GNUPGHOME: this.gnupgHome };
    await run('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', uid, 'rsa2048', 'sign', 'never'], { env });
    const secring = join(this.dir, 'secring.gpg');
    const pubring = join(this.dir, 'pubring.gpg');
    await writeFile(secring, (await run('gpg', ['--batch', '--export-secret-keys'], { env, binaryStdout: true })).stdoutBytes);
    await writeFile(pubring, (await run('gpg', ['--batch', '--export'], { env, binaryStdout: true })).stdoutBytes);
    return { secring, pubring };
  }

  /** Stops the gpg agent of signingKeys(), if one was started. */
  async cleanup(): Promise<void> {
    await run('gpgconf', ['--homedir', this.gnupgHome, '--kill', 'gpg-agent'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
  }
}
