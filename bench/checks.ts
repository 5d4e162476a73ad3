/** The scale checks (deep pages over many repositories and tags) and the met/not-met evaluation of the targets. */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startOurs, startReference, cpuSeconds, memoryStatus, type TargetId } from './lib/servers.js';
import { fmt, fmtRatio, fmtSize, MiB, GiB } from './lib/stats.js';
import { seedOurs, seedReference, timePages, deepPagePaths, scaleRepoName, scaleTagName, SCALE_TAG_REPO, type PageTiming, type BigBlobResult } from './scale.js';
import type { Cli } from './cli.js';
import { log, mib, type ScenarioResult } from './measure.js';



interface ScaleSide {
  readonly seedSeconds: number;
  readonly catalogDeep: PageTiming;
  readonly catalogFirst: PageTiming;
  readonly tagsDeep: PageTiming;
  readonly tagsFirst: PageTiming;
  readonly peakRss: number;
  readonly cpuS: number;
}

export interface ScaleResult {
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

export function scaleOk(s: ScaleResult['ref']): ScaleSide | undefined {
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

/** The scale checks of ours and (unless skipped) the reference, each in its own fresh directory under `base`. */
export async function runScaleChecks(cli: Cli, base: string): Promise<ScaleResult> {
  log();
  log(`Scale checks: ${cli.scaleEntries} repositories, and ${cli.scaleEntries} tags in one repository; 100-entry pages`);
  const ours = cli.targets.includes('ours') ? await orError('ours scale check', () => scaleSide('ours', cli, base)) : undefined;
  let ref: ScaleResult['ref'];
  if (cli.targets.includes('ref')) ref = cli.skipRefScale ? { skipped: '--skip-ref-scale' } : await orError('reference scale check', () => scaleSide('ref', cli, base));
  return { entries: cli.scaleEntries, ...(ours ? { ours } : {}), ...(ref ? { ref } : {}) };
}

// ------------------------------------------------------------------ targets

export interface TargetCheck {
  readonly goal: string;
  readonly met: boolean | undefined;
  readonly detail: string;
}

export function evaluate(results: ScenarioResult[], scale: ScaleResult | undefined, big: Partial<Record<TargetId, BigBlobResult>>, peaks: { ours?: number; oursScale?: number }, cli: Cli): TargetCheck[] {
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
  const withEvents = results.filter((r) => r.events?.ratio !== undefined && ['mono-push', 'small-push', 'small-push-single', 'manifest-put'].includes(r.id));
  if (withEvents.length) {
    const worst = Math.min(...withEvents.map((r) => r.events!.ratio!));
    checks.push({
      goal: 'Push and manifest PUT with one webhook subscription and the audit log ≤ 5% slower',
      met: worst >= 0.95,
      detail: withEvents.map((r) => `${r.id} ${fmtRatio(r.events!.ratio)}`).join(', '),
    });
  }
  const putDelta = byId.get('manifest-put')?.events?.p99DeltaMs;
  if (putDelta !== undefined) {
    checks.push({ goal: 'Manifest PUT p99 with events and audit ≤ 2 ms higher', met: putDelta <= 2, detail: `${putDelta >= 0 ? '+' : ''}${fmt(putDelta)} ms` });
  }
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
