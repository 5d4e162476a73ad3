/** The command line of npm run bench: --help text, parsing into Cli, and scenario selection. */
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Options, Scenario } from './scenarios.js';
import type { TargetId } from './lib/servers.js';
import { parseSize, MiB, GiB } from './lib/stats.js';


/** bench/ in the repository (dist/bench → ../..). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

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
                          its CPU and RSS are the three replicas' summed (docs/benchmarks.md); and events: ours
                          with one webhook subscription (a receiver on loopback) and the audit log to a file,
                          in the push and manifest-PUT scenarios, compared with ours.
  --no-bare               Skip the bare hash+fsync+rename server in the monolithic push.
  --only LIST             Run only these scenarios (plus what they need), e.g. --only blob-head,manifest-get.
  --skip LIST             Skip these scenarios.
  --skip-scale            Skip the 100,000-entry listing checks.
  --skip-ref-scale        Scale checks for ours only.
  --skip-big              Skip the 4 GiB memory check (always skipped by --quick unless --big-size is given).
  --tmp DIR               Where the temporary storage directories go (default the OS temp dir).
  --keep                  Keep the storage directories.
  --out FILE              JSON results (default bench/results/latest.json; a .md summary goes next to it).
  --profile DIR           Instead of comparing: run ours under node --cpu-prof (1 round, ours only, or
                          the events target when --targets names events;
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

export interface Cli extends Options {
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

export function parseCli(argv: string[]): Cli {
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
  for (const t of targets) if (!['ours', 'ref', 'replicas', 'events'].includes(t)) throw new Error(`--targets: unknown target ${t} (ours, ref, replicas, events)`);
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

export function selectScenarios(all: Scenario[], cli: Cli): Scenario[] {
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
