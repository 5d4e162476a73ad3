/** Running targets and measuring one scenario round on one target: /proc sampling, samples, summaries. */
import os from 'node:os';
import type { Scenario, Target, RunOutcome } from './scenarios.js';
import { procStat, memoryStatus, resetPeak, type ServerProcess, type TargetId } from './lib/servers.js';
import type { ReplicaSet } from './lib/replicas.js';
import type { EventsTarget } from './lib/events-target.js';
import { fmt, max, median, sum, MiB } from './lib/stats.js';



export interface Running extends Target {
  readonly proc: ServerProcess;
  /** Highest VmHWM seen over the process's whole life (kept across resets). */
  peakRss: number;
  /** VmRSS once ready, before any scenario. */
  readonly startRss: number;
}

export function running(proc: ServerProcess): Running {
  const mem = memoryOf(proc.pids);
  return { id: proc.id, ep: { host: proc.host, port: proc.port }, pid: proc.pid, proc, peakRss: mem.hwm, startRss: mem.rss };
}

/** procStat summed over the target's processes (one, or the three replicas). */
function statOf(pids: readonly number[]): { userS: number; sysS: number; minorFaults: number } {
  const all = pids.map(procStat);
  return { userS: sum(all.map((s) => s.userS)), sysS: sum(all.map((s) => s.sysS)), minorFaults: sum(all.map((s) => s.minorFaults)) };
}

/** VmRSS and VmHWM summed over the target's processes (for replicas: the sum of each replica's own peak). */
export function memoryOf(pids: readonly number[]): { rss: number; hwm: number } {
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

export function notePeak(t: Running, bytes: number): void {
  if (Number.isFinite(bytes) && bytes > t.peakRss) t.peakRss = bytes;
}

function hrtimeUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export interface Sample {
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

export function alive(t: Running): void {
  const members = t.id === 'replicas' ? [t.proc, ...(t.proc as ReplicaSet).replicas] : [t.proc];
  for (const [i, p] of members.entries()) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      const what = t.id === 'replicas' ? (i === 0 ? 'replicas: the proxy' : `replicas: replica ${i - 1}`) : t.id;
      throw new Error(`${what} exited (${p.child.exitCode ?? p.child.signalCode}); last output:\n${p.logs.slice(-20).join('\n')}`);
    }
  }
}

export async function measure(sc: Scenario, t: Running, round: number): Promise<Sample> {
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
    ...(out.extra || t.id === 'events' ? { extra: { ...out.extra, ...(t.id === 'events' ? { eventsDeliveredSoFar: (t.proc as EventsTarget).delivered() } : {}) } } : {}),
  };
}

export interface TargetSummary {
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
  /** Request-rate scenarios: the median over the rounds of each round's 50th and 99th latency percentile, ms. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** replicas only: medians of the side processes' CPU seconds. */
  readonly auxCpuS?: { proxy: number; postgres: number; rgw: number };
  readonly errors: number;
  readonly errorSamples: string[];
}

export interface ScenarioResult {
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
  /** The events target vs ours: throughput ratio (<1 = events cost) and p99 latency delta, ms (events − ours). */
  readonly events?: { readonly ratio?: number; readonly p99DeltaMs?: number };
}

export function summarizeTarget(samples: Sample[]): TargetSummary {
  const cpuPerGB = samples.every((s) => s.bytes) ? median(samples.map((s) => s.cpuS / (s.bytes! / 1e9))) : undefined;
  const cpuMsPerKiloOp = samples.every((s) => s.ops) ? median(samples.map((s) => (1e6 * s.cpuS) / s.ops!)) : undefined;
  const latency = (key: 'p50Ms' | 'p99Ms') => (samples.every((s) => typeof s.extra?.[key] === 'number') ? { [key]: median(samples.map((s) => s.extra![key] as number)) } : {});
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
    ...latency('p50Ms'),
    ...latency('p99Ms'),
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

export function ratioOf(better: 'higher' | 'lower', ours: number | undefined, other: number | undefined): number | undefined {
  if (ours === undefined || other === undefined || !Number.isFinite(ours) || !Number.isFinite(other) || ours === 0 || other === 0) return undefined;
  return better === 'higher' ? ours / other : other / ours;
}

export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export const log = (line = '') => process.stdout.write(`${line}\n`);
export const mib = (bytes: number | undefined) => (bytes === undefined || !Number.isFinite(bytes) ? 'n/a' : (bytes / MiB).toFixed(1));

export function sampleLine(sc: Scenario, s: Sample): string {
  const err = s.errors ? `  ERRORS ${s.errors}: ${s.errorSamples[0] ?? ''}` : '';
  const lat = typeof s.extra?.p99Ms === 'number' ? `  p50/p99 ${fmt(s.extra.p50Ms as number)}/${fmt(s.extra.p99Ms)} ms` : '';
  return `  r${s.round} ${s.target.padEnd(4)} ${fmt(s.value).padStart(8)} ${sc.unit.padEnd(11)}${lat} server cpu ${fmt(s.cpuS).padStart(6)} s  client cpu ${fmt(s.clientCpuS).padStart(6)} s  peak rss ${mib(s.rssPeak).padStart(6)} MiB  load ${s.load1.toFixed(1)}${err}`;
}
