/**
 * A collection killed halfway (SIGKILL) leaves a consistent store. The store
 * holds live images, a repository of untagged manifests under an untagged
 * rule, and GC_KILL_ORPHANS (default 4000) orphaned blob files, enough that
 * `ferro-oci-server gc` is killed the moment it reports progress, in the
 * middle of its blob scan; a second one is killed after a random delay (in
 * the pruning or the scan). After each kill the integrity check passes; the
 * server restarts and serves every live image; a complete run then removes
 * the rest, and the check passes again.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { blobFile, runCheck, waitReady } from '../../support/durability.js';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry } from '../../support/registry.js';
import { spawnServer, startServer } from '../../support/server-process.js';
import { image, manifestStatus, type Pushed } from './images.js';
import { digestOf } from '../../src/oci/digest.js';

const ORPHANS = Number(process.env.GC_KILL_ORPHANS ?? 4000);
const UNTAGGED = 150;

async function countBlobFiles(dir: string): Promise<number> {
  let n = 0;
  const root = join(dir, 'blobs', 'blobs', 'sha256');
  for (const fanout of await readdir(root)) n += (await readdir(join(root, fanout))).length;
  return n;
}

test(`a collection SIGKILLed halfway through ${ORPHANS} orphaned blobs leaves a consistent store`, { timeout: 300_000 }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'ferro-gc-kill-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const dir = join(work, 'data');
  const config = join(work, 'config.yaml');
  await writeFile(config, 'gc:\n  graceSeconds: 0\n  untagged:\n    - repositories: ["ci/**"]\n      olderThanSeconds: 0\n');

  // Live images, and untagged manifests for the untagged rule.
  const live: Array<[string, Pushed]> = [];
  const registry = await startRegistry('disk', { dir });
  try {
    const client = new OciClient(registry.url);
    for (let i = 0; i < 20; i++) live.push([`apps/a${i % 4}`, await image(client, `apps/a${i % 4}`, `v${i}`)]);
    live.push(['ci/keep', await image(client, 'ci/keep', 'latest')]);
    for (let i = 0; i < UNTAGGED; i++) await image(client, 'ci/scratch');
  } finally {
    await registry.stop();
  }
  // Orphaned blobs: content files that nothing links or references (what unlinks and crashes leave).
  for (let i = 0; i < ORPHANS; i++) {
    const bytes = randomBytes(64);
    const file = blobFile(dir, digestOf(bytes));
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, bytes);
  }
  const filesBefore = await countBlobFiles(dir);

  const gc = (extra: string[] = []) => spawnServer({ args: ['gc', '--storage-dir', dir, '--config', config, ...extra] });
  const check = async (when: string) => {
    const { code, output } = await runCheck(['--storage-dir', dir]);
    assert.equal(code, 0, `integrity check ${when}:\n${output}`);
  };
  const marks = () => {
    const db = new Database(join(dir, 'metadata.db'), { readonly: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM blobs WHERE deleting_by IS NOT NULL').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  // Kill 1: as soon as the scan reports progress.
  const first = gc();
  for (let i = 0; i < 600 && !first.logs.some((l) => l.startsWith('progress:')); i++) await sleep(10);
  assert.ok(first.logs.some((l) => l.startsWith('progress:')), `no progress line: ${first.logs.join('\n')}`);
  const exit1 = await first.kill();
  assert.equal(exit1.signal, 'SIGKILL', `the collection finished before the kill: ${first.logs.join('\n')}`);
  const filesAfter1 = await countBlobFiles(dir);
  assert.ok(filesAfter1 < filesBefore && filesAfter1 > filesBefore - ORPHANS, `killed mid-run: ${filesBefore} -> ${filesAfter1} blob files`);
  const marks1 = marks();
  await check('after kill 1');

  // Kill 2: after a random delay.
  const second = gc();
  await sleep(300 + randomInt(1500));
  const exit2 = await second.kill();
  const filesAfter2 = await countBlobFiles(dir);
  await check('after kill 2');

  // Restart: every live image is served.
  const server = await startServer({ env: { FERRO_OCI_STORAGE_DIR: dir } });
  try {
    await waitReady(server.url);
    const client = new OciClient(server.url);
    for (const [repo, m] of live) {
      assert.equal(await manifestStatus(client, repo, m.digest), 200, `${repo}@${m.digest}`);
      for (const b of m.blobs) assert.equal((await client.fetch(`/v2/${repo}/blobs/${b}`)).status, 200, `${repo} blob ${b}`);
    }
  } finally {
    await server.stop();
  }

  // A complete run removes the rest; a digest a killed run still marks is left for after its lease.
  const last = gc();
  const status = await last.exited;
  assert.equal(status.code, 0, last.logs.join('\n'));
  const filesAfter = await countBlobFiles(dir);
  const leftMarks = marks();
  const liveBlobs = new Set(live.flatMap(([, m]) => m.blobs)).size;
  assert.ok(filesAfter <= liveBlobs + leftMarks, `${filesAfter} blob files remain for ${liveBlobs} live blobs and ${leftMarks} marks`);
  await check('after the complete run');

  t.diagnostic(`store: ${filesBefore} blob files (${liveBlobs} live, ${ORPHANS} orphaned blobs, ${UNTAGGED} untagged manifests)`);
  t.diagnostic(`kill 1 at the first progress line: ${filesBefore - filesAfter1} blobs deleted, ${marks1} marks left; kill 2 (${exit2.signal ?? `exit ${exit2.code}`}): ${filesAfter2} files left`);
  t.diagnostic(`complete run: ${last.logs.filter((l) => !l.startsWith('progress')).join(' | ')}`);
  t.diagnostic(`after it: ${filesAfter} blob files, ${leftMarks} marks of killed runs; integrity check passed after each kill and at the end`);
});
