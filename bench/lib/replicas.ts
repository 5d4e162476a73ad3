/**
 * The `replicas` bench target: the deployment of docs/replicas.md on one
 * machine. One throwaway PostgreSQL (support/postgres.ts) for the
 * metadata, one throwaway Ceph RGW (support/ceph.ts, memstore) for the
 * blobs, three ferro-oci-server processes sharing them, and the round-robin
 * proxy of bench/proxy-server.ts in front, as its own process. The bench
 * talks to the proxy; the target's CPU and RSS are the three replicas'
 * (summed); the proxy's, PostgreSQL's and the RGW's CPU are sampled apart
 * (auxCpu below). Everything shares the machine's cores with the load
 * generator, so this measures correctness and overhead, not scale.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres, type TestPostgres } from '../../support/postgres.js';
import { startRgw, type Rgw } from '../../support/ceph.js';
import { freePort } from '../../support/net.js';
import { createBucket, replicaEnv } from '../../support/shared-storage.js';
import { startOurs, track, waitReady, procStat, type ServerProcess, type StartOptions } from './servers.js';

export const REPLICAS = 3;
const BUCKET = 'bench-replicas';
export const PROXY_MAIN = fileURLToPath(new URL('../proxy-server.js', import.meta.url));

/** The `replicas` target, plus what its side processes are. */
export interface ReplicaSet extends ServerProcess {
  readonly postgresVersion: string;
  /** The three server processes (pids, in order). */
  readonly replicas: readonly ServerProcess[];
  /** CPU seconds (user + system) so far of the proxy, PostgreSQL (postmaster, its live and reaped children) and the RGW daemons. */
  auxCpu(): { proxy: number; postgres: number; rgw: number };
  /** The replicas' upload resume counters (their /metrics) summed: resumes, and bytes read back to rebuild a sha256. */
  uploadCounters(): Promise<{ resumes: number; rehashedBytes: number }>;
}

async function uploadCounters(replicas: readonly ServerProcess[]): Promise<{ resumes: number; rehashedBytes: number }> {
  const sum = { resumes: 0, rehashedBytes: 0 };
  for (const r of replicas) {
    const text = await (await fetch(`http://${r.host}:${r.port}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^ferro_oci_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    sum.resumes += value('upload_resumes_total');
    sum.rehashedBytes += value('upload_rehash_bytes_total');
  }
  return sum;
}

function cpuOf(pid: number): number {
  try {
    const s = procStat(pid);
    return s.userS + s.sysS;
  } catch {
    return 0;
  }
}

/** /proc/<pid>/stat fields after "(comm)": [ppid, utime, stime, cutime, cstime] in ticks. */
function rawStat(pid: number): { ppid: number; comm: string; cutimeS: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), comm, cutimeS: (Number(rest[13]) + Number(rest[14])) / 100 };
  } catch {
    return undefined;
  }
}

/** The postmaster listening on `port` (its command line has `-p PORT`), or undefined. */
function findPostmaster(port: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const i = cmd.indexOf('-p');
      if (cmd[0]?.endsWith('/postgres') && i >= 0 && cmd[i + 1] === String(port)) return Number(name);
    } catch {
      // gone
    }
  }
  return undefined;
}

/** CPU of the postmaster, its live children and (cutime) its reaped ones. cutime assumes 100 ticks/s (Linux' USER_HZ). */
function postgresCpu(postmaster: number | undefined): number {
  if (postmaster === undefined) return Number.NaN;
  const me = rawStat(postmaster);
  if (!me) return Number.NaN;
  let total = cpuOf(postmaster) + me.cutimeS;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = rawStat(Number(name));
    if (s?.ppid === postmaster) total += cpuOf(Number(name));
  }
  return total;
}

function rgwPids(cephDir: string): number[] {
  const dir = join(cephDir, 'pid');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => Number(readFileSync(join(dir, f), 'utf8').trim()))
    .filter((p) => Number.isSafeInteger(p) && p > 1);
}

export async function startReplicas(opts: StartOptions): Promise<ReplicaSet> {
  await mkdir(opts.dir, { recursive: true });
  // Memstore keeps every blob in RAM; the default 3 GiB fills up with 512 MiB pushes over several rounds.
  process.env.MEMSTORE_BYTES ??= String(8 * 1024 ** 3);
  let pg: TestPostgres | undefined;
  let rgw: Rgw | undefined;
  const replicas: ServerProcess[] = [];
  let proxy: ServerProcess | undefined;
  const stopAll = async () => {
    await proxy?.stop();
    await Promise.allSettled(replicas.map((r) => r.stop()));
    await Promise.allSettled([pg?.stop(), rgw?.stop()]);
  };
  try {
    [pg, rgw] = await Promise.all([startPostgres(), startRgw('bench')]);
    await createBucket(rgw, BUCKET);
    const env = replicaEnv(pg, rgw, BUCKET, 5);
    // All at once: the schema migration is serialized by the store's advisory lock.
    const started = await Promise.allSettled(
      Array.from({ length: REPLICAS }, (_, i) => startOurs({ ...opts, dir: join(opts.dir, `replica${i}`), env, storageDir: false })),
    );
    for (const s of started) if (s.status === 'fulfilled') replicas.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;

    const port = await freePort();
    const child = spawn(process.execPath, [PROXY_MAIN], {
      env: { ...process.env, PROXY_LISTEN: `127.0.0.1:${port}`, PROXY_TARGETS: replicas.map((r) => `${r.host}:${r.port}`).join(',') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proxy = track('replicas', child, '127.0.0.1', port, opts.dir);
    await waitReady(proxy);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const postmaster = findPostmaster(Number(new URL(pg.connectionString).port));
  const cephDir = rgw.cephDir;
  const p = proxy;
  return {
    ...p,
    replicas,
    pids: replicas.map((r) => r.pid),
    postgresVersion: pg.version,
    auxCpu: () => ({ proxy: cpuOf(p.pid), postgres: postgresCpu(postmaster), rgw: rgwPids(cephDir).reduce((a, pid) => a + cpuOf(pid), 0) }),
    uploadCounters: () => uploadCounters(replicas),
    stop: stopAll,
  };
}
