/**
 * The step runner: one `it` per step of a client's scenario, in every server
 * mode the suite runs in. Steps that need a failed step are skipped; a
 * failed critical step skips the rest of the mode. When a step fails, its
 * error carries the step's client commands, the server's log lines and the
 * watched daemons' log lines of that window (see report.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ensureImages, type BuiltImages } from '../images.js';
import { COMMAND_TIMEOUT_MS, recordCommandsInto, which, type CommandResult, type Daemon } from './processes.js';
import { clip, explainFailure, printLines, summaryLines, type Counts } from './report.js';
import { Registry, selectedModes, type ServerMode, type ServerSetup } from './server.js';
import { removeDir, tempDir } from './tempdirs.js';

export interface ModeContext {
  readonly client: string;
  readonly mode: ServerMode;
  /** The running server (set by the first step). */
  readonly registry: Registry;
  readonly images: BuiltImages;
  /** A temp dir for this mode, removed afterwards. */
  readonly tmp: string;
  /** Repository prefix for this mode: interop/<client>-<mode>. */
  readonly repoPrefix: string;
  /** <repoPrefix>/<name> */
  repo(name: string): string;
  /** host:port/<repoPrefix>/<name> */
  ref(name: string): string;
  /** Values produced by one step and used by later ones. */
  set(name: string, value: string): void;
  get(name: string): string;
  /** Registers a teardown; they run last-in first-out in the mode's `after` hook, before the server stops. */
  cleanup(fn: () => Promise<void>): void;
  /** Includes this daemon's log lines in failure messages. */
  watch(daemon: Daemon): void;
}

export interface StepOptions {
  /** Other steps (by name) that must have passed; otherwise this one is skipped. */
  needs?: readonly string[];
  /** When this step fails, every later step of the mode is skipped. */
  critical?: boolean;
  timeoutMs?: number;
}

export type StepFn = (ctx: ModeContext, t: TestContext) => Promise<void>;

export interface StepApi {
  /** Defines a step (one `it`). */
  step(name: string, fn: StepFn, options?: StepOptions): void;
  /** In the restart mode, a step that restarts the server (SIGTERM, same storage and port); elsewhere nothing. */
  restartPoint(): void;
}

export interface ClientSuiteOptions {
  /** Commands that must be on PATH. */
  requires: readonly string[];
  /** Needs root (daemons, vfs storage, mount namespaces). */
  needsRoot?: boolean;
  /** Tool versions, printed before the suite (and in the summary after it). */
  versions: () => Promise<Record<string, string>>;
  /** The server modes this suite runs in (default all; INTEROP_MODES narrows them further). */
  modes?: ReadonlyArray<ServerMode['id']>;
  /** Other INTEROP_SKIP words that skip this suite too (e.g. the client's own suite name). */
  skipWith?: readonly string[];
  /** A reason to skip the whole suite, or undefined (e.g. a fetched client binary is missing: the reason names the command that fetches it). */
  unavailable?: () => string | undefined;
  /** Called with the mode's temp dir before the server starts: how to start it (e.g. a configuration file). */
  server?: (tmp: string) => Promise<ServerSetup>;
}


export const START_STEP = 'start ferro-oci-server';

/**
 * Declares the suite of one client: for each server mode a `describe` whose
 * first step starts the server and whose other steps `body` defines. The
 * tool versions and the pass counts are printed as plain output (before and
 * after the suite), not as tests.
 */
export function clientSuite(client: string, options: ClientSuiteOptions, body: (api: StepApi) => void): void {
  const totals = new Map<string, Counts>();
  let versions: Record<string, string> = {};
  const skipWords = (process.env.INTEROP_SKIP ?? '').split(/[\s,]+/).filter(Boolean);
  const skip = [client, ...(options.skipWith ?? [])].find((w) => skipWords.includes(w));

  const unavailable = skip !== undefined ? `INTEROP_SKIP contains ${skip}` : options.unavailable?.();

  describe(client, { skip: unavailable ?? false }, () => {
    before(async () => {
      versions = await options.versions();
      printLines(Object.entries(versions).map(([k, v]) => `${client}: ${k} ${v}`));
    });
    after(() => printLines(summaryLines(client, totals, versions)));

    for (const mode of selectedModes().filter((m) => !options.modes || options.modes.includes(m.id))) {
      const counts: Counts = { pass: 0, fail: 0, skip: 0 };
      totals.set(mode.label, counts);
      describe(`${client} × ferro-oci-server [${mode.label}]`, () => {
        let registry: Registry | undefined;
        let images: BuiltImages | undefined;
        let tmp: string | undefined;
        const cleanups: Array<() => Promise<void>> = [];
        const watched: Daemon[] = [];
        const results = new Map<string, 'pass' | 'fail' | 'skip'>();
        const vars = new Map<string, string>();
        let fatal: string | undefined;
        const repoPrefix = `interop/${client}-${mode.id}`;
        const ctx: ModeContext = {
          client,
          mode,
          get registry() {
            if (!registry) throw new Error('the server is not running');
            return registry;
          },
          get images() {
            if (!images) throw new Error('the test images were not built');
            return images;
          },
          get tmp() {
            if (!tmp) throw new Error('no temp dir');
            return tmp;
          },
          repoPrefix,
          repo: (name) => `${repoPrefix}/${name}`,
          ref: (name) => `${ctx.registry.host}/${repoPrefix}/${name}`,
          set: (name, value) => void vars.set(name, value),
          get: (name) => {
            const v = vars.get(name);
            if (v === undefined) throw new Error(`value "${name}" was not produced by an earlier step`);
            return v;
          },
          cleanup: (fn) => void cleanups.push(fn),
          watch: (d) => void watched.push(d),
        };

        after(async () => {
          for (const fn of cleanups.reverse()) {
            await fn().catch((err: unknown) => process.stderr.write(`[interop] ${client} [${mode.label}] cleanup failed: ${String(err)}\n`));
          }
          for (const d of watched) if (d.running) await d.stop();
          await registry?.stop();
          await removeDir(tmp);
        });

        const step: StepApi['step'] = (name, fn, stepOptions = {}) => {
          it(name, { timeout: stepOptions.timeoutMs ?? COMMAND_TIMEOUT_MS * 2 }, async (t) => {
            if (fatal) {
              results.set(name, 'skip');
              counts.skip++;
              t.skip(`not run: ${fatal}`);
              return;
            }
            const unmet = (stepOptions.needs ?? []).filter((n) => results.get(n) !== 'pass');
            if (unmet.length > 0) {
              results.set(name, 'skip');
              counts.skip++;
              t.skip(`not run: needs ${unmet.map((n) => `"${n}"`).join(', ')}`);
              return;
            }
            const transcript: CommandResult[] = [];
            recordCommandsInto(transcript);
            const mark = registry?.mark();
            const daemonMarks = await Promise.all(watched.map((d) => d.logSize()));
            try {
              await fn(ctx, t);
              results.set(name, 'pass');
              counts.pass++;
            } catch (err) {
              results.set(name, 'fail');
              counts.fail++;
              if (stepOptions.critical) fatal = `the critical step "${name}" failed`;
              throw await explainFailure({ client, mode, registry, watched }, err, name, transcript, mark, daemonMarks);
            } finally {
              recordCommandsInto(undefined);
            }
          });
        };

        step(
          START_STEP,
          async (_ctx, t) => {
            const missing = options.requires.filter((c) => !which(c));
            if (missing.length > 0) throw new Error(`missing on PATH: ${missing.join(', ')} (docs/interop.md lists the Debian packages; INTEROP_SKIP=${client} skips this client)`);
            if (options.needsRoot && process.getuid?.() !== 0) throw new Error(`the suite drives ${client} as root (daemons, vfs storage, mount namespaces): run it as root or set INTEROP_SKIP=${client}`);
            images = await ensureImages();
            tmp = await tempDir(`ferro-oci-interop-${client}-${mode.id}.`);
            const setup = options.server ? await options.server(tmp) : {};
            registry = await Registry.start(mode, mode.storage ? join(tmp, 'registry-storage') : undefined, setup);
            assert.equal(await registry.status('GET', '/v2/'), 200, 'GET /v2/');
            t.diagnostic(`server pid ${registry.pid} at ${registry.url} (${mode.label})`);
          },
          { critical: true },
        );

        body({
          step,
          restartPoint() {
            if (!mode.restart) return;
            step(
              'restart ferro-oci-server (SIGTERM, same storage dir and port)',
              async ({ registry: r }, t) => {
                await r.restart();
                assert.equal(await r.status('GET', '/v2/'), 200, 'GET /v2/ after the restart');
                t.diagnostic(`server restarted: pid ${r.pid} at ${r.url}`);
              },
              { critical: true },
            );
          },
        });

        step('ferro-oci-server log of this mode: no 5xx response, no error-level line', async ({ registry: r }, t) => {
          await r.sync();
          const all = r.linesSince({ instance: 0, line: 0 });
          const requests = r.requestsSince({ instance: 0, line: 0 });
          const failed = requests.filter((q) => (q.status ?? 0) >= 500);
          const errors = all.filter((line) => {
            try {
              return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50;
            } catch {
              return false;
            }
          });
          t.diagnostic(`${requests.length} requests logged (${requests.filter((q) => (q.status ?? 0) >= 400 && (q.status ?? 0) < 500).length} answered 4xx)`);
          assert.deepEqual(
            failed.map((q) => `${q.method} ${q.url} -> ${q.status} (reqId ${q.reqId})`),
            [],
            'responses with status >= 500',
          );
          assert.deepEqual(errors.map(clip), [], 'error-level log lines');
        });
      });
    }
  });
}

