/**
 * npm run bench [-- flags]: ferro-oci-server side by side with the reference
 * registry (Debian's docker-registry, CNCF distribution 2.8.2), same
 * scenarios, interleaved rounds, medians. See docs/benchmarks.md and --help.
 */
import { mkdtemp, rm, mkdir, readdir, writeFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Scenarios, type Options, type Scenario, type Target, type RunOutcome } from './scenarios.js';
import {
  startTarget,
  startOurs,
  startReference,
  cpuSeconds,
  procStat,
  memoryStatus,
  resetPeak,
  ensureReference,
  referenceVersion,
  TARGET_LABEL,
  type ServerProcess,
  type TargetId,
} from './lib/servers.js';
import type { ReplicaSet } from './lib/replicas.js';
import { machineInfo, hardwareLine, type MachineInfo, type HardwareLine } from './lib/machine.js';
import { fmt, fmtRatio, fmtSize, max, median, parseSize, sum, table, markdownTable, MiB, GiB } from './lib/stats.js';
import { seedOurs, seedReference, timePages, deepPagePaths, scaleRepoName, scaleTagName, SCALE_TAG_REPO, moveBigBlob, repeatedDigest, type PageTiming, type BigBlobResult } from './scale.js';
import { summarize, renderSummary, type CpuProfile, type ProfileSummary } from './lib/cpuprofile.js';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const HELP = `Usage: npm run bench -- [flags]

Runs the same scenarios against ferro-oci-server (dist/src/server/main.js)
and the reference registry (docker-registry, distribution 2.8.2), each on
loopback with its own temporary storage directory, interleaved over rounds;
prints medians, ratios (>1 = ours better), server CPU seconds and peak RSS,
and writes everything as JSON.

General:
  --quick                 Smoke run (well under a minute): tiny sizes, 2 short rounds, no 4 GiB blob.
  --rounds N              Rounds per scenario (default 3; quick 2).
  --duration S            Seconds of each timed loop (default 10; quick 0.3).
  --warmup S              Untimed warm-up before each timed loop (default min(1, duration/5)).
  --targets LIST          Servers to compare: ours,ref (default both), and replicas: three of ours on one
                          PostgreSQL + one Ceph RGW (S3) behind a round-robin proxy, all on this machine;
                          its CPU and RSS are the three replicas' summed (docs/benchmarks.md).
  --no-bare               Skip the bare hash+fsync+rename server in the monolithic push.
  --only LIST             Run only these scenarios (plus what they need), e.g. --only blob-head,manifest-get.
  --skip LIST             Skip these scenarios.
  --skip-scale            Skip the 100,000-entry listing checks.
  --skip-ref-scale        Scale checks for ours only.
  --skip-big              Skip the 4 GiB memory check (always skipped by --quick unless --big-size is given).
  --tmp DIR               Where the temporary storage directories go (default the OS temp dir).
  --keep                  Keep the storage directories.
  --out FILE              JSON results (default bench/results/latest.json; a .md summary goes next to it).
  --profile DIR           Instead of comparing: run ours under node --cpu-prof (1 round, ours only,
                          the --only scenarios and what they need) and print the top self-time
                          functions of each scenario's measured window. Profiles and summary.json go in DIR.
  -h, --help              This text.

Sizes (suffixes K, M, G = KiB, MiB, GiB) and counts:
  --blob-size SIZE        Monolithic/chunked push and pull blob (default 512M; quick 16M).
  --chunk-size SIZE       PATCH size of the chunked push (default 8M; quick 4M).
  --small-count N         Small blobs pushed per round (default 2000; quick 100).
  --small-size SIZE       Their size (default 4K).
  --small-concurrency N   (default 32)
  --head-concurrency N    Blob HEAD and manifest GET/HEAD (default 64).
  --manifest-count N      Manifests (and tags) pushed per round (default 1000; quick 100).
  --manifest-concurrency N (default 16)
  --page N                Page size of the tags and catalog walks (default 100; quick 25).
  --list-concurrency N    Whole tags/list loop (default 8).
  --catalog-repos N       Repositories in the catalog walk (default 500; quick 100).
  --images N              Images of the pull workflow (default 8; quick 4).
  --image-layers LIST     Their layer sizes (default 1M,256K,16K; quick 256K,64K,4K).
  --pull-concurrency N    (default 8)
  --scale-entries N       Repositories and tags of the scale checks (default 100000; quick 1000).
  --scale-samples N       Timed requests per deep-page check (default 200; quick 30).
  --big-size SIZE         Blob of the memory check (default 4G).
`;

interface Cli extends Options {
  quick: boolean;
  targets: TargetId[];
  bare: boolean;
  only: string[] | undefined;
  skip: string[];
  skipScale: boolean;
  skipRefScale: boolean;
  skipBig: boolean;
  scaleEntries: number;
  scaleSamples: number;
  bigSize: number;
  tmp: string;
  keep: boolean;
  out: string;
  profile: string | undefined;
}

function parseCli(argv: string[]): Cli {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      targets: { type: 'string' },
      'no-bare': { type: 'boolean', default: false },
      only: { type: 'string' },
      skip: { type: 'string' },
      'skip-scale': { type: 'boolean', default: false },
      'skip-ref-scale': { type: 'boolean', default: false },
      'skip-big': { type: 'boolean', default: false },
      tmp: { type: 'string' },
      keep: { type: 'boolean', default: false },
      out: { type: 'string' },
      profile: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      'blob-size': { type: 'string' },
      'chunk-size': { type: 'string' },
      'small-count': { type: 'string' },
      'small-size': { type: 'string' },
      'small-concurrency': { type: 'string' },
      'head-concurrency': { type: 'string' },
      'manifest-count': { type: 'string' },
      'manifest-concurrency': { type: 'string' },
      page: { type: 'string' },
      'list-concurrency': { type: 'string' },
      'catalog-repos': { type: 'string' },
      images: { type: 'string' },
      'image-layers': { type: 'string' },
      'pull-concurrency': { type: 'string' },
      'scale-entries': { type: 'string' },
      'scale-samples': { type: 'string' },
      'big-size': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const q = values.quick;
  const int = (name: string, v: string | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return n;
  };
  const size = (v: string | undefined, dflt: number) => (v === undefined ? dflt : parseSize(v));
  const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));
  const durationMs = Math.round(Number(values.duration ?? (q ? 0.3 : 10)) * 1000);
  if (!(durationMs > 0)) throw new Error('--duration must be a positive number of seconds');
  const targets = (list(values.targets) ?? ['ours', 'ref']) as TargetId[];
  for (const t of targets) if (t !== 'ours' && t !== 'ref' && t !== 'replicas') throw new Error(`--targets: unknown target ${t} (ours, ref, replicas)`);
  const cli: Cli = {
    quick: q,
    rounds: int('rounds', values.rounds, q ? 2 : 3),
    durationMs,
    warmupMs: values.warmup !== undefined ? Math.round(Number(values.warmup) * 1000) : Math.min(1000, Math.round(durationMs / 5)),
    blobSize: size(values['blob-size'], q ? 16 * MiB : 512 * MiB),
    chunkSize: size(values['chunk-size'], q ? 4 * MiB : 8 * MiB),
    smallCount: int('small-count', values['small-count'], q ? 100 : 2000),
    smallSize: size(values['small-size'], 4096),
    smallConcurrency: int('small-concurrency', values['small-concurrency'], 32),
    headConcurrency: int('head-concurrency', values['head-concurrency'], 64),
    manifestCount: int('manifest-count', values['manifest-count'], q ? 100 : 1000),
    manifestConcurrency: int('manifest-concurrency', values['manifest-concurrency'], 16),
    page: int('page', values.page, q ? 25 : 100),
    listConcurrency: int('list-concurrency', values['list-concurrency'], 8),
    catalogRepos: int('catalog-repos', values['catalog-repos'], q ? 100 : 500),
    images: int('images', values.images, q ? 4 : 8),
    imageLayers: (list(values['image-layers']) ?? (q ? ['256K', '64K', '4K'] : ['1M', '256K', '16K'])).map(parseSize),
    pullConcurrency: int('pull-concurrency', values['pull-concurrency'], 8),
    targets,
    bare: !values['no-bare'],
    only: list(values.only),
    skip: list(values.skip) ?? [],
    skipScale: values['skip-scale'],
    skipRefScale: values['skip-ref-scale'],
    skipBig: values['skip-big'] || (q && values['big-size'] === undefined),
    scaleEntries: int('scale-entries', values['scale-entries'], q ? 1000 : 100_000),
    scaleSamples: int('scale-samples', values['scale-samples'], q ? 30 : 200),
    bigSize: size(values['big-size'], 4 * GiB),
    tmp: resolve(values.tmp ?? os.tmpdir()),
    keep: values.keep,
    out: resolve(values.out ?? join(REPO_ROOT, 'bench', 'results', 'latest.json')),
    profile: values.profile === undefined ? undefined : resolve(values.profile),
  };
  return cli;
}

// ------------------------------------------------------------------ running

interface Running extends Target {
  readonly proc: ServerProcess;
  /** Highest VmHWM seen over the process's whole life (kept across resets). */
  peakRss: number;
  /** VmRSS once ready, before any scenario. */
  readonly startRss: number;
}

function running(proc: ServerProcess): Running {
  const mem = memoryOf(proc.pids);
  return { id: proc.id, ep: { host: proc.host, port: proc.port }, pid: proc.pid, proc, peakRss: mem.hwm, startRss: mem.rss };
}

/** procStat summed over the target's processes (one, or the three replicas). */
function statOf(pids: readonly number[]): { userS: number; sysS: number; minorFaults: number } {
  const all = pids.map(procStat);
  return { userS: sum(all.map((s) => s.userS)), sysS: sum(all.map((s) => s.sysS)), minorFaults: sum(all.map((s) => s.minorFaults)) };
}

/** VmRSS and VmHWM summed over the target's processes (for replicas: the sum of each replica's own peak). */
function memoryOf(pids: readonly number[]): { rss: number; hwm: number } {
  const all = pids.map(memoryStatus);
  return { rss: sum(all.map((m) => m.rss)), hwm: sum(all.map((m) => m.hwm)) };
}

function resetPeakOf(pids: readonly number[]): { previousHwm: number } {
  return { previousHwm: sum(pids.map((pid) => resetPeak(pid).previousHwm)) };
}

/** The side processes' CPU of the replicas target (proxy, PostgreSQL, RGW), else undefined. */
function auxCpuOf(t: Running): { proxy: number; postgres: number; rgw: number } | undefined {
  return t.id === 'replicas' ? (t.proc as ReplicaSet).auxCpu() : undefined;
}

function notePeak(t: Running, bytes: number): void {
  if (Number.isFinite(bytes) && bytes > t.peakRss) t.peakRss = bytes;
}

function hrtimeUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

interface Sample {
  readonly round: number;
  readonly target: TargetId;
  readonly value: number;
  readonly errors: number;
  readonly errorSamples: string[];
  /** Server CPU seconds (user + system, all threads) in the measured window. */
  readonly cpuS: number;
  /** The same split into user and system time, and the server's minor page faults in the window. */
  readonly cpuUserS: number;
  readonly cpuSysS: number;
  readonly minorFaults: number;
  /** The benchmark client's CPU seconds in the same window. */
  readonly clientCpuS: number;
  /** VmHWM from the start of the scenario (after prepare) to its end (replicas: summed). */
  readonly rssPeak: number;
  /** replicas only: CPU seconds of the proxy, PostgreSQL and the RGW in the measured window. */
  readonly auxCpuS?: { proxy: number; postgres: number; rgw: number };
  readonly rssAfter: number;
  readonly bytes?: number;
  readonly ops?: number;
  readonly windowUs: [number, number];
  /** 1-minute load average when the scenario ended (other processes on the machine add noise). */
  readonly load1: number;
  readonly extra?: Record<string, number | string>;
}

function alive(t: Running): void {
  const members = t.id === 'replicas' ? [t.proc, ...(t.proc as ReplicaSet).replicas] : [t.proc];
  for (const [i, p] of members.entries()) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      const what = t.id === 'replicas' ? (i === 0 ? 'replicas: the proxy' : `replicas: replica ${i - 1}`) : t.id;
      throw new Error(`${what} exited (${p.child.exitCode ?? p.child.signalCode}); last output:\n${p.logs.slice(-20).join('\n')}`);
    }
  }
}

async function measure(sc: Scenario, t: Running, round: number): Promise<Sample> {
  alive(t);
  let out: RunOutcome;
  let ps0 = { userS: Number.NaN, sysS: Number.NaN, minorFaults: Number.NaN };
  let ps1 = ps0;
  let cl0: NodeJS.CpuUsage = process.cpuUsage();
  let cl1: NodeJS.CpuUsage | undefined;
  let aux0: ReturnType<typeof auxCpuOf>;
  let aux1: ReturnType<typeof auxCpuOf>;
  let w0 = 0;
  let w1 = 0;
  const hooks = {
    onStart: () => {
      aux0 = auxCpuOf(t);
      ps0 = statOf(t.proc.pids);
      cl0 = process.cpuUsage();
      w0 = hrtimeUs();
    },
    onEnd: () => {
      w1 = hrtimeUs();
      ps1 = statOf(t.proc.pids);
      aux1 = auxCpuOf(t);
      cl1 = process.cpuUsage(cl0);
    },
  };
  try {
    await sc.prepare?.(t, round);
    notePeak(t, resetPeakOf(t.proc.pids).previousHwm);
    out = await sc.run(t, round, hooks);
  } catch (err) {
    alive(t);
    out = { value: Number.NaN, errors: 1, errorSamples: [(err as Error).message] };
  }
  alive(t);
  const mem = memoryOf(t.proc.pids);
  notePeak(t, mem.hwm);
  return {
    round,
    target: t.id,
    value: out.value,
    errors: out.errors,
    errorSamples: out.errorSamples,
    cpuS: ps1.userS + ps1.sysS - (ps0.userS + ps0.sysS),
    cpuUserS: ps1.userS - ps0.userS,
    cpuSysS: ps1.sysS - ps0.sysS,
    minorFaults: ps1.minorFaults - ps0.minorFaults,
    clientCpuS: cl1 ? (cl1.user + cl1.system) / 1e6 : Number.NaN,
    rssPeak: mem.hwm,
    rssAfter: mem.rss,
    ...(aux0 && aux1 ? { auxCpuS: { proxy: aux1.proxy - aux0.proxy, postgres: aux1.postgres - aux0.postgres, rgw: aux1.rgw - aux0.rgw } } : {}),
    ...(out.bytes !== undefined ? { bytes: out.bytes } : {}),
    ...(out.ops !== undefined ? { ops: out.ops } : {}),
    windowUs: [w0, w1],
    load1: os.loadavg()[0]!,
    ...(out.extra ? { extra: out.extra } : {}),
  };
}

interface TargetSummary {
  readonly median: number;
  readonly values: number[];
  readonly cpuS: number;
  readonly cpuUserS: number;
  readonly cpuSysS: number;
  readonly minorFaults: number;
  /** Server CPU seconds per GB moved (byte scenarios) or per 1,000 operations. */
  readonly cpuPerGB?: number;
  readonly cpuMsPerKiloOp?: number;
  readonly clientCpuS: number;
  readonly rssPeak: number;
  /** replicas only: medians of the side processes' CPU seconds. */
  readonly auxCpuS?: { proxy: number; postgres: number; rgw: number };
  readonly errors: number;
  readonly errorSamples: string[];
}

interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly detail: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly samples: Sample[];
  readonly summary: Partial<Record<TargetId, TargetSummary>>;
  /** Ours vs reference, >1 = ours better. */
  readonly ratio?: number;
  /** Ours vs bare, >1 = ours better. */
  readonly ratioVsBare?: number;
}

function summarizeTarget(samples: Sample[]): TargetSummary {
  const cpuPerGB = samples.every((s) => s.bytes) ? median(samples.map((s) => s.cpuS / (s.bytes! / 1e9))) : undefined;
  const cpuMsPerKiloOp = samples.every((s) => s.ops) ? median(samples.map((s) => (1e6 * s.cpuS) / s.ops!)) : undefined;
  return {
    median: median(samples.map((s) => s.value)),
    values: samples.map((s) => s.value),
    cpuS: median(samples.map((s) => s.cpuS)),
    cpuUserS: median(samples.map((s) => s.cpuUserS)),
    cpuSysS: median(samples.map((s) => s.cpuSysS)),
    minorFaults: median(samples.map((s) => s.minorFaults)),
    ...(cpuPerGB !== undefined ? { cpuPerGB } : {}),
    ...(cpuMsPerKiloOp !== undefined ? { cpuMsPerKiloOp } : {}),
    clientCpuS: median(samples.map((s) => s.clientCpuS)),
    rssPeak: max(samples.map((s) => s.rssPeak)),
    ...(samples.every((s) => s.auxCpuS)
      ? {
          auxCpuS: {
            proxy: median(samples.map((s) => s.auxCpuS!.proxy)),
            postgres: median(samples.map((s) => s.auxCpuS!.postgres)),
            rgw: median(samples.map((s) => s.auxCpuS!.rgw)),
          },
        }
      : {}),
    errors: sum(samples.map((s) => s.errors)),
    errorSamples: samples.flatMap((s) => s.errorSamples).slice(0, 5),
  };
}

function ratioOf(better: 'higher' | 'lower', ours: number | undefined, other: number | undefined): number | undefined {
  if (ours === undefined || other === undefined || !Number.isFinite(ours) || !Number.isFinite(other) || ours === 0 || other === 0) return undefined;
  return better === 'higher' ? ours / other : other / ours;
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function selectScenarios(all: Scenario[], cli: Cli): Scenario[] {
  const byId = new Map(all.map((s) => [s.id, s]));
  for (const id of [...(cli.only ?? []), ...cli.skip]) if (!byId.has(id)) throw new Error(`unknown scenario ${id}; known: ${[...byId.keys()].join(', ')}`);
  let wanted = new Set(cli.only ?? all.map((s) => s.id));
  for (const id of cli.skip) wanted.delete(id);
  // Add what the wanted scenarios need, transitively.
  let grew = true;
  while (grew) {
    grew = false;
    for (const id of [...wanted]) {
      for (const need of byId.get(id)?.needs ?? []) {
        if (!wanted.has(need)) {
          wanted.add(need);
          grew = true;
        }
      }
    }
  }
  wanted = new Set([...wanted]);
  return all.filter((s) => wanted.has(s.id));
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const mib = (bytes: number | undefined) => (bytes === undefined || !Number.isFinite(bytes) ? 'n/a' : (bytes / MiB).toFixed(1));

function sampleLine(sc: Scenario, s: Sample): string {
  const err = s.errors ? `  ERRORS ${s.errors}: ${s.errorSamples[0] ?? ''}` : '';
  return `  r${s.round} ${s.target.padEnd(4)} ${fmt(s.value).padStart(8)} ${sc.unit.padEnd(11)} server cpu ${fmt(s.cpuS).padStart(6)} s  client cpu ${fmt(s.clientCpuS).padStart(6)} s  peak rss ${mib(s.rssPeak).padStart(6)} MiB  load ${s.load1.toFixed(1)}${err}`;
}

// ------------------------------------------------------------------ scale

interface ScaleSide {
  readonly seedSeconds: number;
  readonly catalogDeep: PageTiming;
  readonly catalogFirst: PageTiming;
  readonly tagsDeep: PageTiming;
  readonly tagsFirst: PageTiming;
  readonly peakRss: number;
  readonly cpuS: number;
}

interface ScaleResult {
  readonly entries: number;
  readonly ours?: ScaleSide | { error: string };
  readonly ref?: ScaleSide | { skipped: string } | { error: string };
}

/** A failed check is reported, not fatal: the rest of the results still get written. */
async function orError<T>(what: string, fn: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await fn();
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log(`    ${what} FAILED: ${error.split('\n')[0]}`);
    return { error };
  }
}

function scaleOk(s: ScaleResult['ref']): ScaleSide | undefined {
  return s && 'catalogDeep' in s ? s : undefined;
}

async function scaleSide(id: 'ours' | 'ref', cli: Cli, base: string): Promise<ScaleSide> {
  const n = cli.scaleEntries;
  const dir = join(base, `scale-${id}`);
  const progress = (msg: string) => log(`    seeding ${msg}`);
  const seedSeconds = id === 'ours' ? await seedOurs(dir, n, progress) : seedReference(dir, n, progress);
  log(`    seeded ${n} repositories and ${n} tags for ${id} in ${seedSeconds.toFixed(1)} s`);
  const proc = id === 'ours' ? await startOurs({ dir }) : await startReference({ dir });
  try {
    const ep = { host: proc.host, port: proc.port };
    const cpu0 = cpuSeconds(proc.pid);
    // The reference walks its whole tree for each catalog page: bound its time.
    const budget = id === 'ours' ? 120_000 : 60_000;
    const warm = id === 'ours' ? 20 : 1;
    const samples = id === 'ours' ? cli.scaleSamples : Math.min(cli.scaleSamples, 20);
    const catalogDeep = await timePages(ep, deepPagePaths('/v2/_catalog', n, 100, scaleRepoName), 'repositories', samples, warm, budget);
    log(`    ${id} catalog, 100 entries after ${scaleRepoName(n - 101)}…: median ${fmt(catalogDeep.medianMs)} ms (p90 ${fmt(catalogDeep.p90Ms)}, ${catalogDeep.samples} samples, ${catalogDeep.entriesPerAnswer} entries/answer)`);
    const catalogFirst = await timePages(ep, ['/v2/_catalog?n=100'], 'repositories', samples, warm, budget);
    log(`    ${id} catalog, first 100 entries: median ${fmt(catalogFirst.medianMs)} ms`);
    const tagPrefix = `/v2/${SCALE_TAG_REPO}/tags/list`;
    const tagsDeep = await timePages(ep, deepPagePaths(tagPrefix, n, 100, scaleTagName), 'tags', samples, warm, budget);
    log(`    ${id} tags, 100 entries after ${scaleTagName(n - 101)}…: median ${fmt(tagsDeep.medianMs)} ms (p90 ${fmt(tagsDeep.p90Ms)}, ${tagsDeep.samples} samples, ${tagsDeep.entriesPerAnswer} entries/answer)`);
    const tagsFirst = await timePages(ep, [`${tagPrefix}?n=100`], 'tags', samples, warm, budget);
    log(`    ${id} tags, first 100 entries: median ${fmt(tagsFirst.medianMs)} ms`);
    const cpuS = cpuSeconds(proc.pid) - cpu0;
    const peakRss = memoryStatus(proc.pid).hwm;
    return { seedSeconds, catalogDeep, catalogFirst, tagsDeep, tagsFirst, peakRss, cpuS };
  } finally {
    await proc.stop();
    if (!cli.keep) await rm(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ targets

interface TargetCheck {
  readonly goal: string;
  readonly met: boolean | undefined;
  readonly detail: string;
}

function evaluate(results: ScenarioResult[], scale: ScaleResult | undefined, big: Partial<Record<TargetId, BigBlobResult>>, peaks: { ours?: number; oursScale?: number }, cli: Cli): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const byId = new Map(results.map((r) => [r.id, r]));
  const errs = (r: ScenarioResult) => (r.summary.ours?.errors ?? 0) + (r.summary.ref?.errors ?? 0);
  const ratioGoal = (id: string, goal: number, label: string) => {
    const r = byId.get(id);
    if (!r) return;
    const ratio = r.ratio;
    const e = errs(r);
    checks.push({
      goal: `${label} ≥ ${goal}× the reference`,
      met: ratio === undefined ? undefined : ratio >= goal && (r.summary.ours?.errors ?? 0) === 0,
      detail: `${fmtRatio(ratio)} (ours ${fmt(r.summary.ours?.median)} vs ${fmt(r.summary.ref?.median)} ${r.unit})${e ? `; ${e} errors` : ''}`,
    });
  };
  ratioGoal('mono-push', 1.6, 'Monolithic push');
  const mono = byId.get('mono-push');
  if (mono?.ratioVsBare !== undefined) {
    checks.push({
      goal: 'Monolithic push within 10% of the bare hash+fsync+rename server',
      met: mono.ratioVsBare >= 0.9,
      detail: `ours ${fmt(mono.summary.ours?.median)} vs bare ${fmt(mono.summary.bare?.median)} MiB/s = ${(mono.ratioVsBare * 100).toFixed(0)}%`,
    });
  }
  ratioGoal('chunked-push', 1.5, 'Chunked push');
  ratioGoal('pull', 1.0, 'Pull');
  const pull = byId.get('pull');
  if (pull?.summary.ours?.cpuPerGB !== undefined && pull.summary.ref?.cpuPerGB !== undefined) {
    const o = pull.summary.ours.cpuPerGB;
    const r = pull.summary.ref.cpuPerGB;
    checks.push({ goal: 'Pull: at most half the server CPU per GB', met: o <= r / 2, detail: `ours ${fmt(o)} vs ${fmt(r)} CPU s/GB (${((100 * o) / r).toFixed(0)}%)` });
  }
  ratioGoal('small-push', 3, `${fmtSize(cli.smallSize)} blob pushes (POST+PUT on both)`);
  ratioGoal('blob-head', 4, 'Blob HEAD');
  ratioGoal('manifest-get', 4, 'Manifest GET');
  ratioGoal('manifest-head', 4, 'Manifest HEAD');
  ratioGoal('manifest-put', 3, 'Manifest PUT');
  ratioGoal('tags-list', 3, 'tags/list, whole');
  ratioGoal('tags-walk', 3, `tags/list, paged by ${cli.page}`);
  ratioGoal('catalog-walk', 5, 'Catalog walk');
  if (scale?.ours && !scaleOk(scale.ours)) {
    checks.push({ goal: 'Deep catalog/tag page < 5 ms median at 100,000 entries', met: false, detail: `the scale check failed: ${(scale.ours as { error: string }).error.split('\n')[0]}` });
  }
  const oursScale = scaleOk(scale?.ours);
  if (scale && oursScale) {
    const full = scale.entries >= 100_000;
    for (const [what, t] of [
      ['catalog', oursScale.catalogDeep],
      ['tags', oursScale.tagsDeep],
    ] as const) {
      checks.push({
        goal: `Deep ${what} page < 5 ms median at 100,000 entries`,
        met: full ? t.medianMs < 5 && t.errors === 0 && t.entriesPerAnswer === 100 : undefined,
        detail: `${fmt(t.medianMs)} ms median at ${scale.entries} entries${full ? '' : ' (not evaluated: fewer than 100,000 entries)'}${t.errors ? `; ${t.errors} errors` : ''}`,
      });
    }
  }
  if (peaks.ours !== undefined) {
    const all = Math.max(peaks.ours, peaks.oursScale ?? 0);
    checks.push({
      goal: 'Peak RSS ≤ 120 MiB for the whole benchmark',
      met: all <= 120 * MiB,
      detail: `${mib(all)} MiB (main server ${mib(peaks.ours)} MiB${peaks.oursScale !== undefined ? `, scale-check server ${mib(peaks.oursScale)} MiB` : ''})`,
    });
  }
  const b = big.ours;
  if (b) {
    checks.push({
      goal: `< 20 MiB RSS growth while moving a ${fmtSize(b.size)} blob`,
      met: b.growth < 20 * MiB && b.errors === 0 && b.size >= 4 * GiB,
      detail: `${b.growth >= 0 ? '+' : ''}${mib(b.growth)} MiB (baseline ${mib(b.baselineRss)}, push peak ${mib(b.pushPeakRss)}, pull peak ${mib(b.pullPeakRss)} MiB)${b.size < 4 * GiB ? ' (not evaluated: blob under 4 GiB)' : ''}${b.errors ? `; errors: ${b.errorSamples.join('; ')}` : ''}`,
    });
  }
  return checks;
}

// ------------------------------------------------------------------ report

function resultRows(results: ScenarioResult[]): string[][] {
  return results.map((r) => {
    const o = r.summary.ours;
    const f = r.summary.ref;
    const eff = (s: TargetSummary | undefined) => (s?.cpuPerGB !== undefined ? `${fmt(s.cpuPerGB)} s/GB` : s?.cpuMsPerKiloOp !== undefined ? `${fmt(s.cpuMsPerKiloOp)} ms/1k` : 'n/a');
    return [
      r.title,
      `${r.unit}${r.better === 'lower' ? ' ↓' : ''}`,
      fmt(o?.median),
      fmt(f?.median),
      fmtRatio(r.ratio),
      r.summary.bare ? `${fmt(r.summary.bare.median)} (ours ${fmtRatio(r.ratioVsBare)})` : '',
      `${fmt(o?.cpuS)} / ${fmt(f?.cpuS)}`,
      `${eff(o)} / ${eff(f)}`,
      `${mib(o?.rssPeak)} / ${mib(f?.rssPeak)}`,
      `${o?.errors ?? 'n/a'} / ${f?.errors ?? 'n/a'}`,
    ];
  });
}

/** ours (one node, filesystem + SQLite) beside the three replicas on PostgreSQL + S3. */
function replicaRows(results: ScenarioResult[]): string[][] {
  return results
    .filter((r) => r.summary.replicas)
    .map((r) => {
      const o = r.summary.ours;
      const p = r.summary.replicas!;
      const eff = (s: TargetSummary | undefined) => (s?.cpuPerGB !== undefined ? `${fmt(s.cpuPerGB)} s/GB` : s?.cpuMsPerKiloOp !== undefined ? `${fmt(s.cpuMsPerKiloOp)} ms/1k` : 'n/a');
      const ratio = ratioOf(r.better, p.median, o?.median);
      return [
        r.title,
        `${r.unit}${r.better === 'lower' ? ' ↓' : ''}`,
        fmt(o?.median),
        fmt(p.median),
        fmtRatio(ratio),
        `${fmt(o?.cpuS)} / ${fmt(p.cpuS)}`,
        `${eff(o)} / ${eff(p)}`,
        p.auxCpuS ? `${fmt(p.auxCpuS.proxy)} / ${fmt(p.auxCpuS.postgres)} / ${fmt(p.auxCpuS.rgw)}` : 'n/a',
        `${mib(o?.rssPeak)} / ${mib(p.rssPeak)}`,
        `${o?.errors ?? 'n/a'} / ${p.errors}`,
      ];
    });
}

const REPLICA_HEADER = [
  'Scenario',
  'unit',
  'ours, 1 node (FS + SQLite)',
  '3 replicas (PG + S3)',
  'replicas vs 1 node',
  'server CPU s 1 node / 3 replicas Σ',
  'server CPU per work 1 node / 3 replicas Σ',
  'CPU s proxy / PostgreSQL / RGW',
  'peak RSS MiB 1 node / 3 replicas Σ',
  'errors 1 node / replicas',
];

const REPLICA_NOTE =
  'Three replicas on PostgreSQL + S3 (Ceph RGW, memstore) behind a round-robin proxy; replicas vs 1 node >1 = the replicas better. ' +
  'CPU and peak RSS of the replicas are summed over the three processes (RSS: the sum of each one\'s own peak). ' +
  'The proxy, PostgreSQL, the RGW and the load generator run on the same cores as the replicas: this measures correctness and overhead, not scale.';

const RESULT_HEADER = ['Scenario', 'unit', 'ours', 'reference', 'ratio', 'bare', 'server CPU s ours / ref', 'server CPU per work ours / ref', 'peak RSS MiB ours / ref', 'errors ours / ref'];

function scaleRows(scale: ScaleResult): string[][] {
  const rows: string[][] = [];
  const ours = scaleOk(scale.ours);
  const ref = scaleOk(scale.ref);
  const cell = (t: PageTiming | undefined) => (t ? `${fmt(t.medianMs)} ms (p90 ${fmt(t.p90Ms)}, ${t.entriesPerAnswer} entries, n=${t.samples})` : 'n/a');
  rows.push([`Catalog page of 100 near the end of ${scale.entries} repositories`, cell(ours?.catalogDeep), cell(ref?.catalogDeep)]);
  rows.push([`Catalog first page of 100`, cell(ours?.catalogFirst), cell(ref?.catalogFirst)]);
  rows.push([`tags/list page of 100 near the end of ${scale.entries} tags`, cell(ours?.tagsDeep), cell(ref?.tagsDeep)]);
  rows.push([`tags/list first page of 100`, cell(ours?.tagsFirst), cell(ref?.tagsFirst)]);
  rows.push(['Server peak RSS during the checks', ours ? `${mib(ours.peakRss)} MiB` : 'n/a', ref ? `${mib(ref.peakRss)} MiB` : 'n/a']);
  rows.push(['Seeding (not timed over HTTP)', ours ? `${fmt(ours.seedSeconds)} s via the SQLite store` : 'n/a', ref ? `${fmt(ref.seedSeconds)} s as files` : 'n/a']);
  return rows;
}

function bigRows(big: Partial<Record<TargetId, BigBlobResult>>): string[][] {
  return (['ours', 'ref'] as const)
    .filter((id) => big[id])
    .map((id) => {
      const b = big[id]!;
      return [
        TARGET_LABEL[id],
        fmtSize(b.size),
        `${fmt(b.pushMiBps)} MiB/s`,
        `${fmt(b.pullMiBps)} MiB/s`,
        mib(b.baselineRss),
        mib(b.pushPeakRss),
        mib(b.pullPeakRss),
        `${b.growth >= 0 ? '+' : ''}${mib(b.growth)}`,
        String(b.errors),
      ];
    });
}
const BIG_HEADER = ['server', 'blob', 'push', 'pull', 'RSS before MiB', 'peak push MiB', 'peak pull MiB', 'growth MiB', 'errors'];

// ------------------------------------------------------------------ profile

async function runProfile(cli: Cli, base: string): Promise<void> {
  const dir = cli.profile!;
  await mkdir(dir, { recursive: true });
  const scenarios = selectScenarios(new Scenarios(cli).all(), cli);
  log(`profiling ours under node --cpu-prof (${dir}); scenarios: ${scenarios.map((s) => s.id).join(', ')}`);
  const before = new Set(await readdir(dir));
  const proc = await startTarget('ours', { dir: join(base, 'ours'), cpuProfDir: dir });
  const t = running(proc);
  const windows: { id: string; title: string; from: number; to: number; sample: Sample }[] = [];
  try {
    for (const sc of scenarios) {
      if (!sc.targets.includes('ours')) continue;
      const s = await measure(sc, t, 1);
      log(sampleLine(sc, s));
      windows.push({ id: sc.id, title: sc.title, from: s.windowUs[0], to: s.windowUs[1], sample: s });
    }
  } finally {
    await proc.stop(60_000);
  }
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
  if (files.length === 0) throw new Error(`no new .cpuprofile in ${dir}`);
  const file = join(dir, files.sort().at(-1)!);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  log(`profile ${file} (${profile.samples.length} samples, ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s)`);
  const summaries: { id: string; title: string; summary: ProfileSummary; value: number; cpuS: number }[] = [];
  for (const w of windows) {
    const s = summarize(profile, 30, w.from, w.to);
    summaries.push({ id: w.id, title: w.title, summary: s, value: w.sample.value, cpuS: w.sample.cpuS });
    log();
    log(renderSummary(`${w.id} (${fmt(w.sample.value)}; server CPU ${fmt(w.sample.cpuS)} s)`, s, 20));
  }
  const out = join(dir, 'summary.json');
  await writeFile(out, `${JSON.stringify({ profile: file, scenarios: summaries }, null, 2)}\n`);
  log(`\nsummary written to ${out}`);
}

// ------------------------------------------------------------------ main

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
    try {
      try {
      for (const sc of scenarios) {
        const ids = sc.targets.filter((id) => targets.has(id));
        log();
        log(`${sc.title} [${sc.id}] — ${sc.detail}`);
        const samples: Sample[] = [];
        for (let round = 1; round <= cli.rounds; round++) {
          for (const id of rotate(ids, round - 1)) {
            const s = await measure(sc, targets.get(id)!, round);
            samples.push(s);
            log(sampleLine(sc, s));
          }
        }
        const summary: Partial<Record<TargetId, TargetSummary>> = {};
        for (const id of ids) summary[id] = summarizeTarget(samples.filter((s) => s.target === id));
        const ratio = ratioOf(sc.better, summary.ours?.median, summary.ref?.median);
        const ratioVsBare = ratioOf(sc.better, summary.ours?.median, summary.bare?.median);
        const result: ScenarioResult = {
          id: sc.id,
          title: sc.title,
          detail: sc.detail,
          unit: sc.unit,
          better: sc.better,
          samples,
          summary,
          ...(ratio !== undefined ? { ratio } : {}),
          ...(ratioVsBare !== undefined ? { ratioVsBare } : {}),
        };
        results.push(result);
        const parts = ids.map((id) => `${id} ${fmt(summary[id]!.median)}`);
        log(`  median: ${parts.join(', ')} ${sc.unit}${ratio !== undefined ? `; ratio ${fmtRatio(ratio)} (ours vs reference, >1 = ours better)` : ''}${ratioVsBare !== undefined ? `; ours vs bare ${fmtRatio(ratioVsBare)}` : ''}`);
        if (sc.id === 'mono-push' && targets.has('bare')) {
          await targets.get('bare')!.proc.stop();
          targets.delete('bare');
        }
      }
      } catch (err) {
        // A server died: report what was measured, then fail.
        aborted = err instanceof Error ? err.message : String(err);
        log(`\nABORTED: ${aborted}`);
      }

      if (!cli.skipBig && aborted === undefined) {
        log();
        log(`Memory check: push then pull a ${fmtSize(cli.bigSize)} blob (64 MiB of random data repeated; the client never holds more)`);
        const chunk = randomBytes(Math.min(64 * MiB, cli.bigSize));
        const digest = repeatedDigest(chunk, cli.bigSize);
        for (const id of ['ours', 'ref'] as const) {
          const t = targets.get(id);
          if (!t) continue;
          notePeak(t, memoryStatus(t.pid).hwm);
          let b: BigBlobResult;
          try {
            b = await moveBigBlob(t.ep, t.pid, 'bench/big', cli.bigSize, chunk, digest);
          } catch (err) {
            alive(t);
            log(`  ${id} FAILED: ${(err as Error).message}`);
            continue;
          }
          notePeak(t, Math.max(b.pushPeakRss, b.pullPeakRss));
          big[id] = b;
          log(
            `  ${id.padEnd(4)} push ${fmt(b.pushMiBps)} MiB/s, pull ${fmt(b.pullMiBps)} MiB/s; RSS before ${mib(b.baselineRss)} MiB, peak while pushing ${mib(b.pushPeakRss)} MiB, while pulling ${mib(b.pullPeakRss)} MiB: growth ${mib(b.growth)} MiB${b.errors ? `  ERRORS: ${b.errorSamples.join('; ')}` : ''}`,
          );
        }
      }
      for (const t of targets.values()) if (t.proc.child.exitCode === null) notePeak(t, memoryOf(t.proc.pids).hwm);
    } finally {
      for (const t of targets.values()) await t.proc.stop();
    }

    if (!cli.skipScale && aborted === undefined) {
      log();
      log(`Scale checks: ${cli.scaleEntries} repositories, and ${cli.scaleEntries} tags in one repository; 100-entry pages`);
      const ours = cli.targets.includes('ours') ? await orError('ours scale check', () => scaleSide('ours', cli, base)) : undefined;
      let ref: ScaleResult['ref'];
      if (cli.targets.includes('ref')) ref = cli.skipRefScale ? { skipped: '--skip-ref-scale' } : await orError('reference scale check', () => scaleSide('ref', cli, base));
      scale = { entries: cli.scaleEntries, ...(ours ? { ours } : {}), ...(ref ? { ref } : {}) };
    }

    const oursPeak = targets.get('ours')?.peakRss;
    const oursScalePeak = scaleOk(scale?.ours)?.peakRss;
    const checks = evaluate(results, scale, big, { ...(oursPeak !== undefined ? { ours: oursPeak } : {}), ...(oursScalePeak !== undefined ? { oursScale: oursScalePeak } : {}) }, cli);
    const wallSeconds = (performance.now() - wall0) / 1000;

    // ---- final report
    log();
    log(`Results (medians of ${cli.rounds} interleaved rounds; ratio = ours vs reference, >1 = ours better; ↓ = lower is better):`);
    log(table(RESULT_HEADER, resultRows(results)));
    const replicaTable = results.some((r) => r.summary.replicas) ? replicaRows(results) : undefined;
    if (replicaTable) {
      log();
      log(REPLICA_NOTE);
      log(table(REPLICA_HEADER, replicaTable));
    }
    log(`Peak RSS over the whole run: ${[...targets.values()].map((t) => `${t.id} ${mib(t.peakRss)} MiB (${mib(t.startRss)} MiB once started)`).join(', ')}`);
    if (Object.keys(big).length) {
      log();
      log(table(BIG_HEADER, bigRows(big)));
    }
    if (scale) {
      log();
      log(table(['Scale check', 'ours', 'reference'], scaleRows(scale)));
    }
    log();
    log('Targets:');
    for (const c of checks) log(`  [${c.met === undefined ? 'n/a' : c.met ? 'MET' : 'NOT MET'}] ${c.goal}: ${c.detail}`);
    log();
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
      ...(replicaInfo !== undefined ? { replicas: { count: 3, postgres: replicaInfo, s3: 'Ceph RGW (memstore)', proxy: 'bench/proxy-server.ts' } } : {}),
      peakRss: Object.fromEntries([...targets.values()].map((t) => [t.id, { peak: t.peakRss, atStart: t.startRss }])),
      scenarios: results,
      bigBlob: big,
      scale,
      targets: checks,
    };
    await mkdir(dirname(cli.out), { recursive: true });
    await writeFile(cli.out, `${JSON.stringify(json, null, 2)}\n`);
    const md = cli.out.replace(/\.json$/, '') + '.md';
    const mdText = [
      `Run of ${json.startedAt}, \`${['npm run bench', ...(json.argv.length ? ['--', ...json.argv] : [])].join(' ')}\`, wall time ${wallSeconds.toFixed(0)} s${git ? `, server at commit ${git.commit}${git.srcDirty ? ' (src/ modified)' : ''}` : ''}.`,
      '',
      `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memTotalGiB.toFixed(1)} GiB RAM, ${machine.disk.device} ${machine.disk.fsType} (${machine.disk.rotational}), Linux ${machine.kernel}, Node ${machine.node}${refVersion ? `; reference ${refVersion}` : ''}.`,
      `Hardware line: sha256 ${fmt(hw.sha256MiBps)} MiB/s on one core; fsync'd write ${fmt(hw.fsyncWriteMiBps)} MiB/s.`,
      '',
      markdownTable(RESULT_HEADER, resultRows(results)),
      '',
      ...(replicaTable ? [`${REPLICA_NOTE} ${replicaInfo ?? ''}.`, '', markdownTable(REPLICA_HEADER, replicaTable), ''] : []),
      ...(Object.keys(big).length ? [markdownTable(BIG_HEADER, bigRows(big)), ''] : []),
      ...(scale ? [markdownTable(['Scale check', 'ours', 'reference'], scaleRows(scale)), ''] : []),
      markdownTable(
        ['Target', 'status', 'measured'],
        checks.map((c) => [c.goal, c.met === undefined ? 'n/a' : c.met ? 'met' : 'NOT met', c.detail]),
      ),
      '',
    ].join('\n');
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
