/** Shared helpers of the durability tests (test/durability): the check CLI, readiness, files, memory. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchRaw, spawnServer } from './server-process.js';

/** Runs `ferro-oci-server check`; resolves with its exit code and output. */
export async function runCheck(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawnServer({ args: ['check', ...args], env });
  const status = await child.exited;
  return { code: status.code, output: child.logs.join('\n') };
}

/** The file of a committed sha256 blob in a server storage directory. */
export function blobFile(dir: string, digest: string): string {
  return join(dir, 'blobs', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
}

/** Every file below `dir`, as paths relative to it (directories end with '/'). */
export async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1) + (e.isDirectory() ? '/' : '')).sort();
}

/** Polls `url`/ready until it answers 200; resolves when it does, rejects after `timeoutMs`. */
export async function waitReady(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetchRaw(`${url}/ready`, { timeoutMs: 2000 }).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url}/ready did not answer 200 within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Resident set size of a Linux process in bytes (from /proc), or undefined when unavailable. */
export async function rssOf(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status && /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : undefined;
}
