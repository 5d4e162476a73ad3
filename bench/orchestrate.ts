/**
 * The orchestration of a run: every selected scenario in interleaved rounds
 * (the target order rotates each round) and the big-blob memory check.
 */
import { randomBytes } from 'node:crypto';
import type { Cli } from './cli.js';
import type { Scenario } from './scenarios.js';
import { memoryStatus, type TargetId } from './lib/servers.js';
import { fmt, fmtRatio, fmtSize, signedMs, MiB } from './lib/stats.js';
import { moveBigBlob, repeatedDigest, type BigBlobResult } from './scale.js';
import { alive, log, measure, mib, notePeak, ratioOf, rotate, sampleLine, summarizeTarget, type Running, type Sample, type ScenarioResult, type TargetSummary } from './measure.js';

/**
 * Runs `scenarios` against `targets`, appending each result to `results`.
 * A server that dies ends the loop: the reason is returned (what was measured
 * so far is kept), else undefined. The bare server is stopped after mono-push.
 */
export async function runScenarios(scenarios: readonly Scenario[], targets: Map<TargetId, Running>, cli: Cli, results: ScenarioResult[]): Promise<string | undefined> {
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
      const events = eventsCost(sc.better, summary.ours, summary.events);
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
        ...(events ? { events } : {}),
      };
      results.push(result);
      const parts = ids.map((id) => `${id} ${fmt(summary[id]!.median)}`);
      log(`  median: ${parts.join(', ')} ${sc.unit}${ratio !== undefined ? `; ratio ${fmtRatio(ratio)} (ours vs reference, >1 = ours better)` : ''}${ratioVsBare !== undefined ? `; ours vs bare ${fmtRatio(ratioVsBare)}` : ''}${events ? `; events vs ours ${fmtRatio(events.ratio)}${events.p99DeltaMs !== undefined ? `, p99 ${signedMs(events.p99DeltaMs)}` : ''}` : ''}`);
      if (sc.id === 'mono-push' && targets.has('bare')) {
        await targets.get('bare')!.proc.stop();
        targets.delete('bare');
      }
    }
  } catch (err) {
    // A server died: report what was measured, then fail.
    const aborted = err instanceof Error ? err.message : String(err);
    log(`\nABORTED: ${aborted}`);
    return aborted;
  }
  return undefined;
}

/** The events target against ours: throughput ratio (>1 = events faster) and p99 delta; undefined without both. */
function eventsCost(better: 'higher' | 'lower', ours: TargetSummary | undefined, events: TargetSummary | undefined): ScenarioResult['events'] {
  if (!ours || !events) return undefined;
  const ratio = ratioOf(better, events.median, ours.median);
  const p99DeltaMs = ours.p99Ms !== undefined && events.p99Ms !== undefined ? events.p99Ms - ours.p99Ms : undefined;
  return { ...(ratio !== undefined ? { ratio } : {}), ...(p99DeltaMs !== undefined ? { p99DeltaMs } : {}) };
}

/** Pushes then pulls one cli.bigSize blob on ours and the reference, recording each in `big`. */
export async function runBigBlobCheck(targets: Map<TargetId, Running>, cli: Cli, big: Partial<Record<TargetId, BigBlobResult>>): Promise<void> {
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
