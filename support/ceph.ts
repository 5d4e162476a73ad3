/**
 * A throwaway Ceph RADOS Gateway (real S3) for tests, started with the
 * repository's support/ceph/start-ceph-rgw.sh in its own temporary CEPH_DIR on
 * free loopback ports, so it never meets another cluster. OSD_STORE=memstore
 * (data in RAM) unless the environment says otherwise.
 *
 * cephUnavailable() tells why it cannot run: the missing binaries and the exact
 * command installing them. It never installs anything (.ci/run does).
 * stopGateway()/startGateway() take the S3 endpoint down and up (an outage),
 * freezeGateway() makes it hang.
 * Clusters still running when the process exits are killed by PID file.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './net.js';

const run = promisify(execFile);

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The Debian 12 packages the scripts need (CI installs exactly these). */
export const CEPH_APT_PACKAGES = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph-common', 'uuid-runtime', 'curl'] as const;
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'uuidgen', 'curl'];

/** dist/support → the repository's support/ceph/. */
export const CEPH_SCRIPTS = fileURLToPath(new URL('../../support/ceph/', import.meta.url));

/** The command that installs what the scripts need. */
export const CEPH_INSTALL = `apt-get install -y --no-install-recommends ${CEPH_APT_PACKAGES.join(' ')}`;

export interface Rgw {
  readonly endpoint: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly cephDir: string;
  /** Kills the gateway (radosgw) only, keeping the cluster and its data: the S3 endpoint refuses connections. */
  stopGateway(): Promise<void>;
  /** Starts the gateway again and resolves once it answers. */
  startGateway(): Promise<void>;
  /** SIGSTOPs (true) or SIGCONTs (false) the gateway: while frozen, connections open but nothing answers. */
  freezeGateway(frozen: boolean): Promise<void>;
  /** Stops the daemons and removes the data dir. Idempotent. */
  stop(): Promise<void>;
}

const onPath = (bin: string): boolean =>
  (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, bin)));

/** Undefined when an RGW can be started, else the reason with the command to run (for describe skip). */
export function cephUnavailable(): Promise<string | undefined> {
  const missing = BINARIES.filter((b) => !onPath(b));
  return Promise.resolve(missing.length === 0 ? undefined : `Ceph RGW is not installed (missing ${missing.join(', ')}); run: ${CEPH_INSTALL}`);
}

const running = new Set<string>();
process.once('exit', () => {
  for (const dir of running) killByPidFiles(dir);
});

function killByPidFiles(cephDir: string): void {
  const pidDir = join(cephDir, 'pid');
  if (!existsSync(pidDir)) return;
  for (const file of readdirSync(pidDir)) {
    const pid = Number(readFileSync(join(pidDir, file), 'utf8').trim());
    if (Number.isSafeInteger(pid) && pid > 1) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Starts an RGW (~2-5 s); rejects with the script's output when it fails. */
export async function startRgw(name = 'test'): Promise<Rgw> {
  const reason = await cephUnavailable();
  if (reason !== undefined) throw new Error(reason);
  const cephDir = await mkdtemp(join(tmpdir(), `ferro-rgw-${name}-`));
  const env = {
    ...process.env,
    CEPH_DIR: cephDir,
    RGW_PORT: String(await freePort()),
    MON_PORT: String(await freePort()),
    OSD_STORE: process.env.OSD_STORE ?? 'memstore',
    MEMSTORE_BYTES: process.env.MEMSTORE_BYTES ?? String(3 * 1024 ** 3),
  };
  running.add(cephDir);
  try {
    await run(join(CEPH_SCRIPTS, 'start-ceph-rgw.sh'), [], { env, timeout: 120_000 });
  } catch (err) {
    running.delete(cephDir);
    const { stderr, stdout } = err as { stderr?: string; stdout?: string };
    throw new Error(`start-ceph-rgw.sh failed: ${(err as Error).message}\n${stdout ?? ''}\n${stderr ?? ''}`.slice(0, 8000));
  }
  const vars = Object.fromEntries(
    (await readFile(join(cephDir, 's3.env'), 'utf8'))
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  ) as Record<string, string | undefined>;
  let stopped = false;
  const gatewayPidFile = join(cephDir, 'pid', 'client.rgw.pid');
  const freezeGateway = async (frozen: boolean): Promise<void> => {
    process.kill(Number((await readFile(gatewayPidFile, 'utf8')).trim()), frozen ? 'SIGSTOP' : 'SIGCONT');
  };
  return {
    endpoint: vars.S3_ENDPOINT!,
    region: vars.S3_REGION ?? 'us-east-1',
    forcePathStyle: vars.S3_FORCE_PATH_STYLE !== 'false',
    credentials: { accessKeyId: vars.S3_ACCESS_KEY!, secretAccessKey: vars.S3_SECRET_KEY! },
    cephDir,
    async stopGateway() {
      const pid = Number((await readFile(gatewayPidFile, 'utf8')).trim());
      process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(20);
    },
    freezeGateway,
    async startGateway() {
      await run('radosgw', ['-c', join(cephDir, 'ceph.conf'), '-n', 'client.rgw'], { env: { ...process.env, CEPH_CONF: join(cephDir, 'ceph.conf') }, timeout: 60_000 });
      for (const deadline = Date.now() + 60_000; ; await sleep(100)) {
        const answered = await fetch(vars.S3_ENDPOINT!, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false);
        if (answered) return;
        if (Date.now() > deadline) throw new Error(`radosgw did not answer on ${vars.S3_ENDPOINT} within 60 s`);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await freezeGateway(false).catch(() => undefined);
      await run(join(CEPH_SCRIPTS, 'stop-ceph-rgw.sh'), [], { env: { ...process.env, CEPH_DIR: cephDir }, timeout: 60_000 }).catch(() => {
        killByPidFiles(cephDir);
        execFileSync('rm', ['-rf', cephDir]);
      });
      running.delete(cephDir);
    },
  };
}
