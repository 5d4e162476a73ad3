/** The machine line and the hardware line: what the numbers were measured on. */
import { randomFillSync, createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import os from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MiB, GiB } from './stats.js';

export interface MachineInfo {
  readonly nproc: number;
  readonly memTotalGiB: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly node: string;
  readonly disk: { readonly path: string; readonly device: string; readonly fsType: string; readonly sizeGiB: number; readonly rotational: string };
}

function mountOf(path: string): { device: string; mountPoint: string; fsType: string } {
  let best = { device: 'unknown', mountPoint: '/', fsType: 'unknown' };
  try {
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mountPoint, fsType] = line.split(' ');
      if (!device || !mountPoint || !fsType) continue;
      const mp = mountPoint.replace(/\\040/g, ' ');
      if ((path === mp || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`)) && mp.length >= best.mountPoint.length) best = { device, mountPoint: mp, fsType };
    }
  } catch {
    // not Linux
  }
  return best;
}

export function machineInfo(storagePath: string): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // keep os.cpus()
  }
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // keep
  }
  const mount = mountOf(storagePath);
  const dev = basename(mount.device);
  const rotFile = `/sys/block/${dev.replace(/p?\d+$/, '')}/queue/rotational`;
  const rotFile2 = `/sys/block/${dev}/queue/rotational`;
  let rotational = 'unknown';
  for (const f of [rotFile2, rotFile]) {
    if (existsSync(f)) {
      rotational = readFileSync(f, 'utf8').trim() === '1' ? 'rotational (or virtual disk reporting so)' : 'non-rotational';
      break;
    }
  }
  let sizeGiB = Number.NaN;
  try {
    const s = statfsSync(storagePath);
    sizeGiB = (s.blocks * s.bsize) / GiB;
  } catch {
    // unknown
  }
  return {
    nproc,
    memTotalGiB: os.totalmem() / GiB,
    cpuModel,
    kernel: os.release(),
    node: process.version,
    disk: { path: storagePath, device: mount.device, fsType: mount.fsType, sizeGiB, rotational },
  };
}

export interface HardwareLine {
  /** sha256 over a 256 MiB random buffer, one core, MiB/s. */
  readonly sha256MiBps: number;
  /** 256 MiB written in 8 MiB pieces then fsync, MiB/s. */
  readonly fsyncWriteMiBps: number;
}

/** sha256 throughput of one core and fsync'd write throughput of `dir`'s filesystem. */
export async function hardwareLine(dir: string): Promise<HardwareLine> {
  const size = 256 * MiB;
  const buf = Buffer.allocUnsafeSlow(size);
  for (let off = 0; off < size; off += MiB) randomFillSync(buf, off, MiB);
  const hash = createHash('sha256');
  const t0 = performance.now();
  for (let off = 0; off < size; off += MiB) hash.update(buf.subarray(off, off + MiB));
  hash.digest();
  const sha256MiBps = size / MiB / ((performance.now() - t0) / 1000);

  const file = join(dir, `fsync-probe-${process.pid}`);
  const fh = await open(file, 'w');
  let fsyncWriteMiBps: number;
  try {
    const t1 = performance.now();
    for (let off = 0; off < size; off += 8 * MiB) await fh.write(buf, off, 8 * MiB, off);
    await fh.sync();
    fsyncWriteMiBps = size / MiB / ((performance.now() - t1) / 1000);
  } finally {
    await fh.close();
    await unlink(file);
  }
  return { sha256MiBps, fsyncWriteMiBps };
}
