/**
 * containerd driver: a private containerd 1.6 (own root under the mode's temp
 * dir; state and sockets under a short /tmp/icd.XXXXXX because unix socket
 * paths are limited to 108 bytes; the CRI plugin disabled) driven with `ctr`
 * in a namespace of its own, plain HTTP via --plain-http. ctr uses the same
 * remotes/docker resolver and pusher as nerdctl and the kubelet's CRI.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Daemon, removeDir, run, tempDir, type CommandResult, type RunOptions } from '../harness.js';

export class Containerd {
  private constructor(
    readonly daemon: Daemon,
    readonly socket: string,
    readonly namespace: string,
    private readonly short: string,
    private readonly root: string,
  ) {}

  static async start(dir: string, namespace: string): Promise<Containerd> {
    const base = join(dir, 'containerd');
    const root = join(base, 'root');
    await mkdir(root, { recursive: true });
    const short = await tempDir('icd.', '/tmp');
    const socket = join(short, 'c.sock');
    const config = join(base, 'config.toml');
    await writeFile(
      config,
      [
        'version = 2',
        `root = "${root}"`,
        `state = "${join(short, 'state')}"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${socket}"`,
        '[ttrpc]',
        `  address = "${socket}.ttrpc"`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = "${join(base, 'opt')}"`,
        '',
      ].join('\n'),
    );
    const daemon = await Daemon.start('containerd', 'containerd', ['--config', config], {
      logFile: join(base, 'containerd.log'),
      timeoutMs: 30_000,
      ready: async () => (await run('ctr', ['-a', socket, 'version'], { allowFailure: true, timeoutMs: 5_000 })).code === 0,
    });
    return new Containerd(daemon, socket, namespace, short, root);
  }

  ctr(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run('ctr', ['-a', this.socket, '-n', this.namespace, ...args], options);
  }

  /** image name -> target digest, from `ctr images ls`. */
  async images(): Promise<Map<string, string>> {
    const r = await this.ctr(['images', 'ls']);
    const map = new Map<string, string>();
    for (const line of r.stdout.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 3 && cols[2]!.startsWith('sha256:')) map.set(cols[0]!, cols[2]!);
    }
    return map;
  }

  /** The bytes of a blob in the content store (`ctr content get`). */
  async content(digest: string): Promise<Buffer> {
    return (await this.ctr(['content', 'get', digest], { binaryStdout: true })).stdoutBytes;
  }

  /** Digests in the content store (`ctr content ls -q`). */
  async contentList(): Promise<Set<string>> {
    const r = await this.ctr(['content', 'ls', '-q']);
    return new Set(r.stdout.split('\n').map((s) => s.trim()).filter(Boolean));
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    await removeDir(this.short);
    await removeDir(this.root);
  }
}
