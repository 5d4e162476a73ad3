/** containers/image blob-info cache isolation (skopeo, podman, buildah). */
import { mkdir } from 'node:fs/promises';
import { run, which } from '../harness/processes.js';
import { removeDir, tempDir } from '../harness/tempdirs.js';

let bicSupport: Promise<boolean> | undefined;

/**
 * containers/image (skopeo, podman, buildah) keeps a blob-info cache under
 * /var/lib/containers/cache when run as root, shared by every run: it
 * remembers where blobs were pushed and turns later uploads into cross-repo
 * mounts. Each mode gets a private cache: the command runs in a new mount
 * namespace (unshare -m) with an empty dir bind-mounted over that path.
 * Without root or unshare the shared cache is used.
 */
export function privateBlobInfoCacheSupported(): Promise<boolean> {
  bicSupport ??= (async () => {
    if (process.getuid?.() !== 0 || !which('unshare')) return false;
    const probe = await tempDir('ferro-oci-bic.');
    try {
      await mkdir('/var/lib/containers/cache', { recursive: true });
      const r = await run('unshare', ['-m', '--', 'sh', '-c', 'mount --bind "$0" /var/lib/containers/cache', probe], { allowFailure: true, timeoutMs: 10_000 });
      return r.code === 0;
    } catch {
      return false;
    } finally {
      await removeDir(probe);
    }
  })();
  return bicSupport;
}

/** argv that runs `cmd args` with `cacheDir` as its containers/image blob-info cache (when supported). */
export async function withBlobInfoCache(cacheDir: string, cmd: string, args: readonly string[]): Promise<[string, string[]]> {
  if (!(await privateBlobInfoCacheSupported())) return [cmd, [...args]];
  return ['unshare', ['-m', '--', 'sh', '-c', 'mount --bind "$0" /var/lib/containers/cache && exec "$@"', cacheDir, cmd, ...args]];
}

