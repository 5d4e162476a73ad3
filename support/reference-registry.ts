/**
 * Debian's docker-registry (CNCF distribution 2.8.2) on loopback, for tests
 * that need the reference registry as a peer (e.g. the mirror's upstream):
 * filesystem storage in a fresh temp dir, optionally htpasswd auth; it can
 * be halted and resumed (same port, same data) to play an upstream outage.
 * `referenceUnavailable()` names the install command when it is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './net.js';

export const REFERENCE_REGISTRY_BIN = '/usr/bin/docker-registry';

export interface ReferenceRegistry {
  readonly url: string;
  /** Stops the process (SIGTERM), keeping its data and port: the upstream is down until `resume`. */
  halt(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** Undefined when the binary is there; else the skip reason with the command that installs it. */
export function referenceUnavailable(): string | undefined {
  return existsSync(REFERENCE_REGISTRY_BIN) ? undefined : `${REFERENCE_REGISTRY_BIN} is missing; install it with: apt-get install -y docker-registry`;
}

/** Starts it; `htpasswd` (the file's text, bcrypt) turns basic auth on. */
export async function startReferenceRegistry(options: { htpasswd?: string } = {}): Promise<ReferenceRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-reference-'));
  const port = await freePort();
  const lines = ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, 'http:', `  addr: 127.0.0.1:${port}`];
  if (options.htpasswd !== undefined) {
    await writeFile(join(dir, 'htpasswd'), options.htpasswd);
    lines.push('auth:', '  htpasswd:', '    realm: reference', `    path: ${join(dir, 'htpasswd')}`);
  }
  await writeFile(join(dir, 'config.yml'), lines.join('\n') + '\n');
  const url = `http://127.0.0.1:${port}`;
  let running: { child: ChildProcess; exited: Promise<void> } | undefined;
  const halt = async () => {
    if (!running) return;
    const { child, exited } = running;
    running = undefined;
    child.kill('SIGTERM');
    await exited;
  };
  const stop = async () => {
    await halt();
    await rm(dir, { recursive: true, force: true });
  };
  const resume = async () => {
    const child = spawn(REFERENCE_REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    running = { child, exited: new Promise<void>((resolve) => child.once('exit', () => resolve())) };
    for (let i = 0; ; i++) {
      try {
        await fetch(`${url}/v2/`);
        return;
      } catch {
        if (i > 100 || child.exitCode !== null) {
          await stop();
          throw new Error(`docker-registry did not start: ${stderr.slice(-2000)}`);
        }
        await sleep(50);
      }
    }
  };
  await resume();
  return { url, halt, resume, stop };
}
