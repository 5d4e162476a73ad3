/**
 * Temp dirs of the interop suite (server storage, client stores, daemon
 * roots): made by tempDir(), removed by removeDir(), and whatever is left
 * is removed when the process exits (removeLiveDirsSync, see processes.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Temp dirs made by tempDir() and not removed yet (removed on an interrupt too). */
const liveDirs = new Set<string>();

/** A fresh temp dir `base`/`prefix`XXXXXX (base: $TMPDIR); remove it with removeDir(). */
export async function tempDir(prefix: string, base = tmpdir()): Promise<string> {
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, prefix));
  liveDirs.add(dir);
  return dir;
}

/**
 * Lazily unmounts whatever is mounted at or under `dir` (dockerd bind-mounts
 * its data-root onto itself; a SIGKILLed dockerd leaves that mount behind).
 */
function unmountUnder(dir: string): void {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return;
  }
  const points = mounts
    .split('\n')
    .map((line) => (line.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of points) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* not ours to fix: rm reports what is left */
    }
  }
}

/** Unmounts anything left under `dir`, then removes it. */
export async function removeDir(dir: string | undefined): Promise<void> {
  if (!dir) return;
  unmountUnder(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch((err: unknown) => {
    process.stderr.write(`[interop] could not remove ${dir}: ${String(err)}\n`);
  });
  liveDirs.delete(dir);
}


/** Removes every temp dir not removed yet (on the way out: synchronous, best effort). */
export function removeLiveDirsSync(): void {
  for (const dir of [...liveDirs].reverse()) {
    unmountUnder(dir);
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      /* best effort on the way out */
    }
  }
  liveDirs.clear();
}
