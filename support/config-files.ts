/**
 * Ways a configuration file changes on disk while a server runs, for the
 * reload tests: an editor's rename-replace, and a Kubernetes secret (or
 * ConfigMap) volume, whose files are symlinks through a `..data` symlink that
 * the kubelet swaps atomically to a new timestamped directory.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes `text` to a temporary file next to `path`, then renames it over `path` (as editors and config tools do). */
export async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

export interface KubernetesVolume {
  /** Puts `files` (name → content) in a new timestamped directory and swaps `..data` to it; the old directory is removed. */
  update(files: Readonly<Record<string, string>>): Promise<void>;
}

/** Lays out `dir` (it must exist) like a mounted secret volume holding `files`. */
export async function kubernetesVolume(dir: string, files: Readonly<Record<string, string>>): Promise<KubernetesVolume> {
  let version: string | undefined;
  let n = 0;
  const update = async (next: Readonly<Record<string, string>>) => {
    const previous = version;
    version = `..${new Date().toISOString().replace(/[-:.]/g, '_')}_${n++}`;
    await mkdir(join(dir, version));
    for (const [name, text] of Object.entries(next)) await writeFile(join(dir, version, name), text);
    await symlink(version, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const name of Object.keys(next)) {
      const exists = await lstat(join(dir, name)).then(() => true, () => false);
      if (!exists) await symlink(join('..data', name), join(dir, name));
    }
    if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
  };
  await update(files);
  return { update };
}
