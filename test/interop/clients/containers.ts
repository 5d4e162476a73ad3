/**
 * podman and buildah drivers (containers/image + containers/storage, no
 * daemon). Each mode gets a throw-away store: --root under the mode's temp
 * dir, --runroot under a short /tmp/ipr.XXXXXX (podman refuses a runroot
 * longer than 50 characters), the vfs storage driver (no overlay mounts),
 * its own registries.conf (CONTAINERS_REGISTRIES_CONF) marking the server
 * `insecure = true` (plain HTTP; podman 4.3 `manifest inspect` has no
 * --tls-verify) and a private blob-info cache (see withBlobInfoCache).
 * INTEROP_DEBUG=1 adds --log-level=debug.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeDir, run, tempDir, type CommandResult, type RunOptions } from '../harness.js';
import { withBlobInfoCache } from './blob-info-cache.js';

export type ContainersToolName = 'podman' | 'buildah';

export class ContainersTool {
  private constructor(
    readonly tool: ContainersToolName,
    readonly root: string,
    readonly runroot: string,
    readonly tmp: string,
    readonly registriesConf: string,
    private readonly bic: string,
  ) {}

  /** A store of its own under `dir`, with `host` (host:port) marked insecure. */
  static async create(tool: ContainersToolName, dir: string, host: string): Promise<ContainersTool> {
    const base = join(dir, tool);
    const root = join(base, 'root');
    const tmp = join(base, 'tmp');
    const bic = join(base, 'bic');
    for (const d of [root, tmp, bic]) await mkdir(d, { recursive: true });
    const runroot = await tempDir(tool === 'podman' ? 'ipr.' : 'ibr.', '/tmp');
    const registriesConf = join(base, 'registries.conf');
    await writeFile(
      registriesConf,
      ['unqualified-search-registries = []', 'short-name-mode = "disabled"', '', '[[registry]]', `location = "${host}"`, 'insecure = true', ''].join('\n'),
    );
    return new ContainersTool(tool, root, runroot, tmp, registriesConf, bic);
  }

  private globalFlags(): string[] {
    const common = ['--root', this.root, '--runroot', this.runroot, '--storage-driver', 'vfs'];
    const debug = process.env.INTEROP_DEBUG ? ['--log-level=debug'] : [];
    if (this.tool === 'podman') return [...common, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--tmpdir', this.tmp, ...debug];
    return [...common, ...debug];
  }

  async run(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const [cmd, argv] = await withBlobInfoCache(this.bic, this.tool, [...this.globalFlags(), ...args]);
    return run(cmd, argv, {
      ...options,
      env: { CONTAINERS_REGISTRIES_CONF: this.registriesConf, TMPDIR: this.tmp, BUILDAH_ISOLATION: 'chroot', ...options.env },
    });
  }

  /** `<tool> image inspect --format`, or buildah `inspect --type image --format`. */
  async inspectImage(ref: string, format: string): Promise<string> {
    const args = this.tool === 'podman' ? ['image', 'inspect', '--format', format, ref] : ['inspect', '--type', 'image', '--format', format, ref];
    return (await this.run(args)).stdout.trim();
  }

  /** Full image ID (sha256 hex without prefix) of a local image. */
  async imageId(ref: string): Promise<string> {
    if (this.tool === 'podman') return this.inspectImage(ref, '{{.Id}}');
    return this.inspectImage(ref, '{{.FromImageID}}');
  }

  async destroy(): Promise<void> {
    await this.run(['rmi', '-a', '-f'], { allowFailure: true, timeoutMs: 60_000 }).catch(() => undefined);
    await removeDir(this.runroot);
    await removeDir(this.root);
  }
}
