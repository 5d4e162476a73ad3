/**
 * Crash safety: the server binary on filesystem + SQLite under a concurrent
 * push workload (crash-workload.ts) is SIGKILLed at random moments and
 * restarted on the same directory, CRASH_KILLS times (default 12):
 *
 *   CRASH_KILLS=60 node --test dist/test/durability/crash.test.js
 *
 * After each restart: ready within 10 s, no upload data without a session
 * (the startup sweep), every acknowledged write readable with its exact
 * bytes, tags where the last acknowledged write put them, cut sessions
 * resumable or BLOB_UPLOAD_UNKNOWN, and `ferro-oci-server check` passes.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { runCheck, waitReady } from '../../support/durability.js';
import { startServer, type ExitStatus, type RunningServer } from '../../support/server-process.js';
import { CrashWorkload } from './crash-workload.js';

const KILLS = Number(process.env.CRASH_KILLS ?? 12);
const WORKERS = 4;
const READY_LIMIT_MS = 10_000;

test(`crash safety: ${KILLS} SIGKILLs during a push workload lose no acknowledged write`, { timeout: 60_000 + KILLS * 15_000 }, async (t) => {
  assert.ok(Number.isSafeInteger(KILLS) && KILLS > 0, 'CRASH_KILLS must be a positive integer');
  const dir = await mkdtemp(join(tmpdir(), 'ferro-crash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const uploadsDir = join(dir, 'blobs', 'uploads');
  const workload = new CrashWorkload(WORKERS);
  const readyTimes: number[] = [];
  const uploadFiles: number[] = [];
  let checks = 0;
  let server: RunningServer | undefined;
  t.after(() => server?.kill());

  /** Starts the server, measures spawn-to-ready, and checks the upload area holds no data without a session. */
  const boot = async (): Promise<RunningServer> => {
    const started = performance.now();
    const s = await startServer({ env: { FERRO_OCI_STORAGE_DIR: dir, FERRO_OCI_LOG_LEVEL: 'info' }, timeoutMs: READY_LIMIT_MS });
    await waitReady(s.url, READY_LIMIT_MS);
    readyTimes.push(performance.now() - started);
    const files = await readdir(uploadsDir);
    const db = new Database(join(dir, 'metadata.db'), { readonly: true });
    const sessions = new Set((db.prepare('SELECT id FROM uploads').all() as { id: string }[]).map((r) => r.id));
    db.close();
    const orphans = files.filter((f) => !sessions.has(f));
    assert.deepEqual(orphans, [], `upload data without a session after restart ${readyTimes.length - 1}`);
    return s;
  };

  const check = async (when: string) => {
    const { code, output } = await runCheck(['--storage-dir', dir]);
    assert.equal(code, 0, `integrity check ${when}:\n${output}`);
    checks++;
  };

  server = await boot();
  for (let kill = 1; kill <= KILLS; kill++) {
    let killed = false;
    const running = workload.run(server.url, () => killed);
    await sleep(150 + randomInt(1200));
    killed = true;
    const exit: ExitStatus = await server.kill();
    assert.equal(exit.signal, 'SIGKILL', `the server exited on its own before kill ${kill}: ${server.logs.slice(-20).join('\n')}`);
    await running;
    server = await boot();
    await workload.verify(server.url, false);
    uploadFiles.push((await readdir(uploadsDir)).length);
    await check(`after kill ${kill}`);
    assert.deepEqual(workload.figures.violations, [], `after kill ${kill}`);
  }
  await workload.verify(server.url, true);
  await server.stop();
  await check('at the end');

  const f = workload.figures;
  const maxReady = Math.max(...readyTimes);
  t.diagnostic(`kills survived: ${KILLS}; restarts ready in max ${maxReady.toFixed(0)} ms (mean ${(readyTimes.reduce((a, b) => a + b, 0) / readyTimes.length).toFixed(0)} ms)`);
  t.diagnostic(`acknowledged writes: ${f.acknowledged}; cut by kills: ${f.cut} (+${f.cutPosts} session POSTs); checks of acknowledged state passed: ${f.verified}`);
  t.diagnostic(`lost or corrupt: ${f.lostOrCorrupt}; cut sessions resumed: ${f.resumed}, unknown after restart: ${f.resumeUnknown}`);
  t.diagnostic(`upload files after each restart and resumption: ${uploadFiles.join(' ')}; integrity checks passed: ${checks}`);
  assert.deepEqual(f.violations, []);
  assert.equal(f.lostOrCorrupt, 0);
  assert.ok(f.acknowledged > KILLS * 5, `the workload made progress (${f.acknowledged} acknowledged writes)`);
  assert.ok(maxReady < READY_LIMIT_MS, `restart to ready took ${maxReady} ms`);
  // Session data left after a restart belongs to sessions whose creating POST was cut (unknown to any client).
  assert.ok(Math.max(...uploadFiles) <= f.cutPosts, `upload files ${uploadFiles.join(',')} > cut POSTs ${f.cutPosts}`);
});
