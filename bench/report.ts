/** The result tables, printed and in Markdown. */
import { TARGET_LABEL, type TargetId } from './lib/servers.js';
import type { HardwareLine, MachineInfo } from './lib/machine.js';
import { fmt, fmtRatio, fmtSize, markdownTable, signedMs, table } from './lib/stats.js';
import type { PageTiming, BigBlobResult } from './scale.js';
import { scaleOk, type ScaleResult, type TargetCheck } from './checks.js';
import { log, mib, ratioOf, type Running, type ScenarioResult, type TargetSummary } from './measure.js';



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
      latency(o, f),
      `${mib(o?.rssPeak)} / ${mib(f?.rssPeak)}`,
      `${o?.errors ?? 'n/a'} / ${f?.errors ?? 'n/a'}`,
    ];
  });
}

/** "p50/p99 ours · p50/p99 other" in ms, for the request-rate scenarios (blank for the others). */
function latency(o: TargetSummary | undefined, f: TargetSummary | undefined): string {
  const one = (s: TargetSummary | undefined) => (s?.p99Ms === undefined ? 'n/a' : `${fmt(s.p50Ms)}/${fmt(s.p99Ms)}`);
  return o?.p99Ms === undefined && f?.p99Ms === undefined ? '' : `${one(o)} · ${one(f)}`;
}

/** ours beside the events target (one webhook subscription + audit file): the cost of events and auditing. */
export function eventsRows(results: readonly ScenarioResult[]): string[][] {
  return results
    .filter((r) => r.summary.events)
    .map((r) => {
      const o = r.summary.ours;
      const e = r.summary.events!;
      return [
        r.title,
        `${r.unit}${r.better === 'lower' ? ' ↓' : ''}`,
        fmt(o?.median),
        fmt(e.median),
        fmtRatio(r.events?.ratio),
        latency(o, e),
        r.events?.p99DeltaMs === undefined ? 'n/a' : signedMs(r.events.p99DeltaMs),
        `${fmt(o?.cpuS)} / ${fmt(e.cpuS)}`,
        `${mib(o?.rssPeak)} / ${mib(e.rssPeak)}`,
        `${o?.errors ?? 'n/a'} / ${e.errors}`,
      ];
    });
}

const EVENTS_HEADER = ['Scenario', 'unit', 'ours', 'ours + events + audit', 'events vs ours', 'p50/p99 ms ours · events', 'p99 delta', 'server CPU s ours / events', 'peak RSS MiB ours / events', 'errors ours / events'];
const EVENTS_NOTE =
  'Events and audit on: one webhook subscription (CloudEvents, signed) to a receiver on loopback answering 204 at once, and the audit log to a file; ' +
  'events vs ours <1 = slower with them (goal ≥ 0.95×, and p99 of manifest PUT at most +2 ms).';

/** ours (one node, filesystem + SQLite) beside the three replicas on PostgreSQL + S3. */
export function replicaRows(results: ScenarioResult[]): string[][] {
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

const RESULT_HEADER = ['Scenario', 'unit', 'ours', 'reference', 'ratio', 'bare', 'server CPU s ours / ref', 'server CPU per work ours / ref', 'p50/p99 ms ours · ref', 'peak RSS MiB ours / ref', 'errors ours / ref'];

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

/** What the report shows of one run. */
export interface RunReport {
  readonly results: readonly ScenarioResult[];
  /** replicaRows(results), when the replicas target ran. */
  readonly replicaTable: string[][] | undefined;
  readonly big: Partial<Record<TargetId, BigBlobResult>>;
  readonly scale: ScaleResult | undefined;
  readonly checks: readonly TargetCheck[];
}

/** Prints the result tables and the targets' status. */
export function printReport(r: RunReport & { readonly rounds: number; readonly targets: readonly Running[] }): void {
  log();
  log(`Results (medians of ${r.rounds} interleaved rounds; ratio = ours vs reference, >1 = ours better; ↓ = lower is better):`);
  log(table(RESULT_HEADER, resultRows([...r.results])));
  if (r.replicaTable) {
    log();
    log(REPLICA_NOTE);
    log(table(REPLICA_HEADER, r.replicaTable));
  }
  const events = eventsRows(r.results);
  if (events.length) {
    log();
    log(EVENTS_NOTE);
    log(table(EVENTS_HEADER, events));
  }
  log(`Peak RSS over the whole run: ${r.targets.map((t) => `${t.id} ${mib(t.peakRss)} MiB (${mib(t.startRss)} MiB once started)`).join(', ')}`);
  if (Object.keys(r.big).length) {
    log();
    log(table(BIG_HEADER, bigRows(r.big)));
  }
  if (r.scale) {
    log();
    log(table(['Scale check', 'ours', 'reference'], scaleRows(r.scale)));
  }
  log();
  log('Targets:');
  for (const c of r.checks) log(`  [${c.met === undefined ? 'n/a' : c.met ? 'MET' : 'NOT MET'}] ${c.goal}: ${c.detail}`);
}

/** The run's header fields, as written to the JSON results. */
export interface RunRecord {
  readonly startedAt: string;
  readonly argv: readonly string[];
  readonly wallSeconds: number;
  readonly git: { commit: string; srcDirty: boolean } | undefined;
  readonly machine: MachineInfo;
  readonly hardware: HardwareLine;
  readonly reference: string;
}

/** The Markdown summary written next to the JSON results. */
export function markdownReport(r: RunReport & { readonly run: RunRecord; readonly replicaInfo: string | undefined }): string {
  const { run, replicaTable } = r;
  const { git, machine, hardware: hw } = run;
  return [
    `Run of ${run.startedAt}, \`${['npm run bench', ...(run.argv.length ? ['--', ...run.argv] : [])].join(' ')}\`, wall time ${run.wallSeconds.toFixed(0)} s${git ? `, server at commit ${git.commit}${git.srcDirty ? ' (src/ modified)' : ''}` : ''}.`,
    '',
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memTotalGiB.toFixed(1)} GiB RAM, ${machine.disk.device} ${machine.disk.fsType} (${machine.disk.rotational}), Linux ${machine.kernel}, Node ${machine.node}${run.reference ? `; reference ${run.reference}` : ''}.`,
    `Hardware line: sha256 ${fmt(hw.sha256MiBps)} MiB/s on one core; fsync'd write ${fmt(hw.fsyncWriteMiBps)} MiB/s.`,
    '',
    markdownTable(RESULT_HEADER, resultRows([...r.results])),
    '',
    ...(replicaTable ? [`${REPLICA_NOTE} ${r.replicaInfo ?? ''}.`, '', markdownTable(REPLICA_HEADER, replicaTable), ''] : []),
    ...(eventsRows(r.results).length ? [EVENTS_NOTE, '', markdownTable(EVENTS_HEADER, eventsRows(r.results)), ''] : []),
    ...(Object.keys(r.big).length ? [markdownTable(BIG_HEADER, bigRows(r.big)), ''] : []),
    ...(r.scale ? [markdownTable(['Scale check', 'ours', 'reference'], scaleRows(r.scale)), ''] : []),
    markdownTable(
      ['Target', 'status', 'measured'],
      r.checks.map((c) => [c.goal, c.met === undefined ? 'n/a' : c.met ? 'met' : 'NOT met', c.detail]),
    ),
    '',
  ].join('\n');
}
