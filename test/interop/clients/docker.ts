/**
 * Docker driver: a private dockerd (Debian docker.io 20.10) started by PID
 * with its own data-root (vfs storage driver by default: no overlay mounts), exec-root,
 * pidfile and unix socket (under a short /tmp/idk.XXXXXX), no iptables and no
 * bridge, and the server as --insecure-registry (plain HTTP). dockerd starts
 * its own containerd under the exec-root; SIGTERM to dockerd stops both.
 * The docker CLI (any version; the API is negotiated) uses DOCKER_HOST,
 * its own DOCKER_CONFIG, and the legacy builder (DOCKER_BUILDKIT=0).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Daemon, removeDir, run, tempDir, type CommandResult, type RunOptions } from '../harness.js';

export class Docker {
  private constructor(
    readonly daemon: Daemon,
    readonly host: string,
    private readonly config: string,
    private readonly short: string,
    private readonly dataRoot: string,
  ) {}

  /**
   * `storageDriver`: vfs (default: no mounts) or overlay2 (far faster for builds: a layer is not a full copy).
   * `extraArgs` go to dockerd as they are (e.g. `--registry-mirror http://host:port`).
   */
  static async start(dir: string, insecureRegistry: string, storageDriver: 'vfs' | 'overlay2' = 'vfs', extraArgs: readonly string[] = []): Promise<Docker> {
    const base = join(dir, 'docker');
    const dataRoot = join(base, 'data');
    const config = join(base, 'config');
    await mkdir(dataRoot, { recursive: true });
    await mkdir(config, { recursive: true });
    const short = await tempDir('idk.', '/tmp');
    const host = `unix://${join(short, 'docker.sock')}`;
    const env = Docker.env(host, config);
    const daemon = await Daemon.start(
      'dockerd',
      'dockerd',
      [
        '--data-root',
        dataRoot,
        '--exec-root',
        join(short, 'exec'),
        '--pidfile',
        join(short, 'docker.pid'),
        '-H',
        host,
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        `--storage-driver=${storageDriver}`,
        '--insecure-registry',
        insecureRegistry,
        ...extraArgs,
      ],
      {
        logFile: join(base, 'dockerd.log'),
        timeoutMs: 60_000,
        ready: async () => (await run('docker', ['version', '--format', '{{.Server.Version}}'], { env, allowFailure: true, timeoutMs: 10_000 })).code === 0,
      },
    );
    return new Docker(daemon, host, config, short, dataRoot);
  }

  private static env(host: string, config: string): Record<string, string> {
    return { DOCKER_HOST: host, DOCKER_CONFIG: config, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' };
  }

  docker(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run('docker', args, { ...options, env: { ...Docker.env(this.host, this.config), ...options.env } });
  }

  async inspect(ref: string, format: string): Promise<string> {
    return (await this.docker(['image', 'inspect', '--format', format, ref])).stdout.trim();
  }

  /** The digest `docker push` printed ("<tag>: digest: sha256:... size: N"). */
  static pushedDigest(output: string): string {
    const all = [...output.matchAll(/digest: (sha256:[0-9a-f]{64})/g)];
    const last = all[all.length - 1];
    if (!last) throw new Error(`no "digest: sha256:..." in the docker push output:\n${output}`);
    return last[1]!;
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    await removeDir(this.short);
    await removeDir(this.dataRoot);
  }
}
