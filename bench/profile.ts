/** --profile: ours under node --cpu-prof, one self-time summary per scenario window. */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Scenarios } from './scenarios.js';
import { startTarget } from './lib/servers.js';
import { fmt } from './lib/stats.js';
import { summarize, renderSummary, type CpuProfile, type ProfileSummary } from './lib/cpuprofile.js';
import { selectScenarios, type Cli } from './cli.js';
import { log, measure, running, sampleLine, type Sample } from './measure.js';



export async function runProfile(cli: Cli, base: string): Promise<void> {
  const dir = cli.profile!;
  await mkdir(dir, { recursive: true });
  const scenarios = selectScenarios(new Scenarios(cli).all(), cli);
  const id = cli.targets.includes('events') ? 'events' : 'ours';
  log(`profiling ${id} under node --cpu-prof (${dir}); scenarios: ${scenarios.map((s) => s.id).join(', ')}`);
  const before = new Set(await readdir(dir));
  const proc = await startTarget(id, { dir: join(base, id), cpuProfDir: dir });
  const t = running(proc);
  const windows: { id: string; title: string; from: number; to: number; sample: Sample }[] = [];
  try {
    for (const sc of scenarios) {
      if (!sc.targets.includes(id)) continue;
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
