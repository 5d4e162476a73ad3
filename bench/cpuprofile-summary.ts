/**
 * node dist/bench/cpuprofile-summary.js <file.cpuprofile> [--top N] [--from US --to US]
 *
 * Prints the top self-time functions and areas of a V8 CPU profile, e.g. one
 * written by `node --cpu-prof` (see `npm run bench -- --profile DIR`).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderSummary, summarize, type CpuProfile } from './lib/cpuprofile.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean', default: false } },
});
if (positionals.length === 0) {
  process.stderr.write('usage: node dist/bench/cpuprofile-summary.js <file.cpuprofile>... [--top N] [--from µs --to µs] [--json]\n');
  process.exit(2);
}
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const s = summarize(profile, Number(values.top), values.from ? Number(values.from) : -Infinity, values.to ? Number(values.to) : Infinity);
  process.stdout.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : `${renderSummary(file, s, Number(values.top))}\n`);
}
