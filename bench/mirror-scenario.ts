/**
 * mirror-cold-pull: a cold pull of one large blob through the pull-through
 * cache (docs/mirror.md) against the same pull straight from its upstream,
 * side by side in one round. Each round starts a fresh pair (bench/lib/
 * mirror-pair.ts: two server processes of ours on loopback, disk storage),
 * pushes `blobSize` new bytes to the upstream, pulls them directly, then
 * through the mirror (nothing cached: one upstream GET, streamed to the
 * client while stored). The value is the mirror's MiB/s; `extra` has the
 * direct MiB/s, the ratio, both times to first byte and both servers' CPU
 * seconds. The round's target process is not involved (its CPU reads ~0).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { Options, Scenario } from './scenarios.js';
import { startMirrorPair } from './lib/mirror-pair.js';
import { cpuSeconds } from './lib/servers.js';
import { fmtSize, MiB } from './lib/stats.js';
import { log } from './measure.js';
import { pushRandomBlob, timedPull, type TimedPull } from '../support/timed-pull.js';

export function mirrorColdPull(o: Options): Scenario {
  return {
    id: 'mirror-cold-pull',
    title: `Cold pull through the mirror, ${fmtSize(o.blobSize)}`,
    detail: 'GET of an uncached blob at a mirror of ours (stored while streamed) vs the same GET at its upstream; extra: direct MiB/s, ratio, TTFB',
    unit: 'MiB/s',
    better: 'higher',
    targets: ['ours'],
    run: async (_t, round) => {
      const dir = await mkdtemp(join(o.tmp ?? os.tmpdir(), 'ferro-oci-mirror-'));
      const pair = await startMirrorPair(dir);
      try {
        const { upstream: up, mirror } = pair;
        const digest = await pushRandomBlob(up.host, up.port, 'bench/mirror', o.blobSize, round);
        const u0 = cpuSeconds(up.pid);
        const direct = await timedPull(up.host, up.port, `/v2/bench/mirror/blobs/${digest}`);
        const u1 = cpuSeconds(up.pid);
        const m0 = cpuSeconds(mirror.pid);
        const cold = await timedPull(mirror.host, mirror.port, `/v2/up.test/bench/mirror/blobs/${digest}`);
        const m1 = cpuSeconds(mirror.pid);
        const u2 = cpuSeconds(up.pid);
        const bad = [direct, cold].filter((p) => p.status !== 200 || p.digest !== digest || p.bytes !== o.blobSize);
        const speed = (p: TimedPull) => p.bytes / MiB / (p.totalMs / 1000);
        const extra = {
          directMiBps: speed(direct),
          ratio: speed(cold) / speed(direct),
          ttfbDirectMs: direct.firstByteMs,
          ttfbMirrorMs: cold.firstByteMs,
          directCpuS: u1 - u0,
          mirrorCpuS: m1 - m0,
          upstreamCpuDuringMirrorS: u2 - u1,
        };
        const f = (n: number, d = 0) => n.toFixed(d);
        log(
          `  mirror-cold-pull round ${round}: direct ${f(extra.directMiBps)} MiB/s (TTFB ${f(direct.firstByteMs, 1)} ms, CPU ${f(extra.directCpuS, 2)} s) | ` +
            `through the mirror ${f(speed(cold))} MiB/s (TTFB ${f(cold.firstByteMs, 1)} ms, mirror CPU ${f(extra.mirrorCpuS, 2)} s) | ratio ${f(extra.ratio, 2)}`,
        );
        return {
          value: speed(cold),
          errors: bad.length,
          errorSamples: bad.map((p) => `status ${p.status}, ${p.bytes} bytes, ${p.digest}`),
          bytes: cold.bytes,
          ops: 1,
          extra,
        };
      } finally {
        await pair.stop();
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
