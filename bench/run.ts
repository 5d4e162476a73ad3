/**
 * npm run bench [-- flags]: ferro-oci-server side by side with the reference
 * registry (Debian's docker-registry, CNCF distribution 2.8.2), same
 * scenarios, interleaved rounds, medians. See docs/benchmarks.md and --help.
 *
 * This file starts the targets and sequences a run; cli.ts parses the flags,
 * orchestrate.ts runs the scenario rounds and the big-blob check, measure.ts
 * samples one round, checks.ts holds the scale checks and the targets,
 * report.ts the tables, profile.ts the --profile mode.
 */
import { mkdtemp, rm, mkdir, writeFile, stat } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Scenarios } from './scenarios.js';
import { startTarget, ensureReference, referenceVersion, TARGET_LABEL, type TargetId } from './lib/servers.js';
import type { ReplicaSet } from './lib/replicas.js';
import { machineInfo, hardwareLine, type MachineInfo, type HardwareLine } from './lib/machine.js';
import { fmt } from './lib/stats.js';
import type { BigBlobResult } from './scale.js';
import { REPO_ROOT, parseCli, selectScenarios } from './cli.js';
import { log, memoryOf, mib, notePeak, running, type Running, type ScenarioResult } from './measure.js';
import { evaluate, runScaleChecks, scaleOk, type ScaleResult } from './checks.js';
import { markdownReport, printReport, replicaRows } from './report.js';
import { runBigBlobCheck, runScenarios } from './orchestrate.js';
import { runProfile } from './profile.js';

/** The commit the server was built from, and whether src/ had uncommitted changes (read-only git). */
function gitState(): { commit: string; srcDirty: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, srcDirty: dirty };
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const wall0 = performance.now();
  const loadStart = os.loadavg();
  const cli = parseCli(process.argv.slice(2));
  await mkdir(cli.tmp, { recursive: true });
  const base = await mkdtemp(join(cli.tmp, 'ferro-oci-bench-'));
  try {
    if (cli.profile) {
      await runProfile(cli, base);
      return;
    }
    const machine: MachineInfo = machineInfo(base);
    log(`machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memTotalGiB.toFixed(1)} GiB RAM, Linux ${machine.kernel}, Node ${machine.node}`);
    log(`disk: ${machine.disk.device} (${machine.disk.fsType}, ${fmt(machine.disk.sizeGiB)} GiB, ${machine.disk.rotational}) at ${base}`);
    const git = gitState();
    if (git) log(`server source: commit ${git.commit}${git.srcDirty ? ' with uncommitted changes in src/' : ''}`);
    const hw: HardwareLine = await hardwareLine(base);
    log(`hardware: sha256 ${fmt(hw.sha256MiBps)} MiB/s on one core; fsync'd write ${fmt(hw.fsyncWriteMiBps)} MiB/s (256 MiB in 8 MiB pieces + fsync)`);
    let refVersion = '';
    if (cli.targets.includes('ref')) {
      ensureReference();
      refVersion = referenceVersion();
      log(`reference: ${refVersion}`);
    }
    log(
      `rounds ${cli.rounds}, timed loops ${cli.durationMs / 1000} s after ${cli.warmupMs / 1000} s warm-up; the load generator runs on the same ${machine.nproc} CPUs as the servers`,
    );

    const scen = new Scenarios(cli);
    const scenarios = selectScenarios(scen.all(), cli);
    const needBare = cli.bare && scenarios.some((s) => s.id === 'mono-push');
    const targets = new Map<TargetId, Running>();
    let replicaInfo: string | undefined;
    for (const id of [...cli.targets, ...(needBare ? (['bare'] as const) : [])]) {
      const proc = await startTarget(id, { dir: join(base, id) });
      targets.set(id, running(proc));
      if (id === 'replicas') {
        const set = proc as ReplicaSet;
        replicaInfo = set.postgresVersion;
        log(`started ${TARGET_LABEL[id]}: replicas pids ${proc.pids.join(', ')}, proxy pid ${proc.pid} on ${proc.host}:${proc.port}; ${set.postgresVersion}, Ceph RGW (memstore); replicas' RSS ${mib(targets.get(id)!.startRss)} MiB summed`);
      } else log(`started ${TARGET_LABEL[id]} (pid ${proc.pid}) on ${proc.host}:${proc.port}, storage ${proc.dir}, RSS ${mib(targets.get(id)!.startRss)} MiB`);
    }

    const results: ScenarioResult[] = [];
    const big: Partial<Record<TargetId, BigBlobResult>> = {};
    let scale: ScaleResult | undefined;
    let aborted: string | undefined;
    let rehash: { resumes: number; rehashedBytes: number } | undefined;
    try {
      aborted = await runScenarios(scenarios, targets, cli, results);

      if (!cli.skipBig && aborted === undefined) await runBigBlobCheck(targets, cli, big);
      for (const t of targets.values()) if (t.proc.child.exitCode === null) notePeak(t, memoryOf(t.proc.pids).hwm);
      const set = targets.get('replicas')?.proc as ReplicaSet | undefined;
      rehash = await set?.uploadCounters().catch(() => undefined);
    } finally {
      for (const t of targets.values()) await t.proc.stop();
    }

    if (!cli.skipScale && aborted === undefined) scale = await runScaleChecks(cli, base);

    const oursPeak = targets.get('ours')?.peakRss;
    const oursScalePeak = scaleOk(scale?.ours)?.peakRss;
    const checks = evaluate(results, scale, big, { ...(oursPeak !== undefined ? { ours: oursPeak } : {}), ...(oursScalePeak !== undefined ? { oursScale: oursScalePeak } : {}) }, cli);
    const wallSeconds = (performance.now() - wall0) / 1000;

    const replicaTable = results.some((r) => r.summary.replicas) ? replicaRows(results) : undefined;
    printReport({ rounds: cli.rounds, results, replicaTable, targets: [...targets.values()], big, scale, checks });
    log();
    if (rehash) log(`replicas: ${rehash.resumes} upload writers resumed, ${rehash.rehashedBytes} bytes read back from S3 to rebuild a sha256 (upload_rehash_bytes_total)`);
    log(`wall time ${wallSeconds.toFixed(1)} s; load average (1 min) ${loadStart[0]!.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end`);

    const json = {
      tool: 'ferro-oci-server bench',
      startedAt: new Date(Date.now() - wallSeconds * 1000).toISOString(),
      wallSeconds,
      argv: process.argv.slice(2),
      options: cli,
      machine,
      git,
      ...(aborted !== undefined ? { aborted } : {}),
      hardware: hw,
      loadAverage: { start: loadStart, end: os.loadavg() },
      reference: refVersion,
      ...(replicaInfo !== undefined ? { replicas: { count: 3, postgres: replicaInfo, s3: 'Ceph RGW (memstore)', proxy: 'bench/proxy-server.ts', ...(rehash ? { uploads: rehash } : {}) } } : {}),
      peakRss: Object.fromEntries([...targets.values()].map((t) => [t.id, { peak: t.peakRss, atStart: t.startRss }])),
      scenarios: results,
      bigBlob: big,
      scale,
      targets: checks,
    };
    await mkdir(dirname(cli.out), { recursive: true });
    await writeFile(cli.out, `${JSON.stringify(json, null, 2)}\n`);
    const md = cli.out.replace(/\.json$/, '') + '.md';
    const mdText = markdownReport({ run: json, results, replicaTable, replicaInfo, big, scale, checks });
    await writeFile(md, mdText);
    log(`results: ${cli.out} (and ${md})`);
    const size = (await stat(cli.out)).size;
    if (size === 0) throw new Error('empty results file');
    if (aborted !== undefined) throw new Error(`aborted: ${aborted}`);
  } finally {
    if (!cli.keep) await rm(base, { recursive: true, force: true });
    else log(`kept ${base}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
