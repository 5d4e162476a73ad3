/**
 * An upstream and a mirror of it, both our server binary on loopback with
 * disk storage: the mirror's configuration file has one `mirrors` entry
 * (namespace `up.test`) pointing at the upstream, so that
 * `/v2/up.test/<name>/…` at the mirror is `/v2/<name>/…` at the upstream.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startOurs, type ServerProcess } from './servers.js';

export interface MirrorPair {
  readonly upstream: ServerProcess;
  readonly mirror: ServerProcess;
  stop(): Promise<void>;
}

/** `cpuProfDir`: run both under `node --cpu-prof` (profiles named by process id). */
export async function startMirrorPair(dir: string, cpuProfDir?: string): Promise<MirrorPair> {
  const prof = cpuProfDir ? { cpuProfDir } : {};
  const upstream = await startOurs({ dir: join(dir, 'upstream'), ...prof });
  try {
    await mkdir(join(dir, 'mirror'), { recursive: true });
    const config = join(dir, 'mirror.yaml');
    await writeFile(config, ['mirrors:', '  - name: up', `    url: http://${upstream.host}:${upstream.port}`, '    namespace: up.test', ''].join('\n'));
    const mirror = await startOurs({ dir: join(dir, 'mirror'), env: { FERRO_OCI_CONFIG: config }, ...prof });
    return { upstream, mirror, stop: async () => void (await Promise.all([mirror.stop(), upstream.stop()])) };
  } catch (err) {
    await upstream.stop();
    throw err;
  }
}
