/**
 * Configuration reload without a restart (README "Reloading the configuration").
 *
 * A reload loads the whole configuration again with the function used at
 * start (ConfigSource.load), reads the htpasswd file it names, validates
 * everything, then replaces in one synchronous step the Live values
 * (live.ts) the running server reads: the auth policy (rules, groups, admins)
 * and users, the storage policy (retention, untagged, immutable tags) and the
 * collection settings (gc interval and grace). A request keeps the values
 * current when it arrived, so no request in flight fails because of a reload.
 * An invalid file (or htpasswd file) changes nothing: the error is logged,
 * naming the file and key, and config_reload_success turns 0 (metrics.ts).
 * Every other setting the configuration holds (auth mode, token settings,
 * realm, throttle, a new or removed auth section, …) needs a restart: a change
 * is logged at warn naming the keys, and the running values stay.
 *
 * Triggers: reload() (main.ts calls it on SIGHUP, always reloading), and
 * watch(): the directories holding the configuration and htpasswd files are
 * watched (a directory, not the file: editors replace files by renaming, and
 * Kubernetes swaps a `..data` symlink next to the files); 200 ms after the
 * last event (at most 1 s after the first) the files are read, and reloaded
 * when their content changed.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { AuthConfig } from '../auth/config.js';
import { ConfigError } from './config.js';
import { loadUsers, type LoadedAuth } from '../auth/load.js';
import { AccessPolicy } from '../auth/policy.js';
import type { Live } from '../live.js';
import type { RegistryGcOptions } from '../registry.js';
import { StoragePolicy, type PolicyRules } from '../services/policy.js';
import type { ReloadMetrics } from './metrics.js';
import type { UpkeepConfig } from './config-upkeep.js';

/**
 * The whole configuration as the server loads it: the reloadable parts are
 * the auth users file and policy, and the upkeep sections; anything else
 * (compared as JSON) is only applied by a restart.
 */
export interface ReloadableSettings {
  readonly auth?: AuthConfig;
  readonly upkeep?: UpkeepConfig;
}

/** How a reloader loads the whole configuration again (the same function as at start); throws naming the key at fault. */
export interface ConfigSource<S extends ReloadableSettings> {
  /** The configuration file, watched with the htpasswd file it names. */
  readonly file: string;
  /** Its content at start. */
  readonly text: string;
  /** The settings the server started with. */
  readonly settings: S;
  readonly load: () => Promise<S>;
}

/** Wait after the last file event before reading (an editor or a secret update writes several). */
export const RELOAD_DEBOUNCE_MS = 200;
/** …but no later than this after the first event. */
export const RELOAD_MAX_WAIT_MS = 1000;

/** What a reload replaces: the auth plugin's live values (absent without auth) and the registry's. */
export interface ReloadTargets {
  readonly auth?: LoadedAuth['live'];
  readonly gc: Live<RegistryGcOptions>;
  readonly storagePolicy: Live<PolicyRules>;
}

/** The registry's collection settings of a configuration file. */
export function gcOptionsOf(settings: ReloadableSettings): RegistryGcOptions {
  const gc = settings.upkeep?.gc;
  return { ...(gc?.intervalMs !== undefined ? { intervalMs: gc.intervalMs } : {}), ...(gc?.graceMs !== undefined ? { graceMs: gc.graceMs } : {}) };
}

/** The part of the settings only a restart applies: everything but the users file, the auth policy and the upkeep sections. */
function restartOnly(settings: ReloadableSettings): Record<string, unknown> {
  const { upkeep: _upkeep, auth, ...rest } = settings;
  if (auth === undefined) return rest;
  const { htpasswd: _htpasswd, policy: _policy, ...fixed } = auth;
  return { ...rest, auth: fixed };
}

/** The dotted paths at which `a` and `b` (JSON-like values) differ. */
function differences(a: unknown, b: unknown, at: string): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => differences(a[k], b[k], at === '' ? k : `${at}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

async function readText(path: string | undefined): Promise<string | undefined> {
  return path === undefined ? undefined : readFile(path, 'utf8').catch(() => undefined);
}

const digest = (...texts: Array<string | undefined>) => createHash('sha256').update(JSON.stringify(texts)).digest('hex');

export type ReloadTrigger = 'SIGHUP' | 'file change';

export class ConfigReloader<S extends ReloadableSettings = ReloadableSettings> {
  #current: S;
  /** Content digest of the files last read by an attempt (worked or not): unchanged files are not reloaded on a file event. */
  #seen: string;
  #tail: Promise<void> = Promise.resolve();
  #watchers = new Map<string, FSWatcher>();
  #debounce: NodeJS.Timeout | undefined;
  /** When the first event of the pending debounce came. */
  #firstEvent = 0;
  #attempts = 0;
  #closed = false;

  private readonly file: string;
  private readonly started: S;

  private constructor(
    private readonly source: ConfigSource<S>,
    seen: string,
    private readonly targets: ReloadTargets,
    private readonly log: Logger,
    private readonly metrics: ReloadMetrics,
  ) {
    this.file = source.file;
    this.started = source.settings;
    this.#current = source.settings;
    this.#seen = seen;
  }

  static async create<S extends ReloadableSettings>(source: ConfigSource<S>, targets: ReloadTargets, log: Logger, metrics: ReloadMetrics): Promise<ConfigReloader<S>> {
    const seen = digest(source.text, await readText(source.settings.auth?.htpasswd));
    metrics.record(true, Date.now());
    return new ConfigReloader(source, seen, targets, log, metrics);
  }

  /** Reloads (one at a time, in order). `force` false: only when the files changed since the last attempt. Never rejects. */
  reload(trigger: ReloadTrigger, force = true): Promise<void> {
    this.#tail = this.#tail.then(() => this.#attempt(trigger, force));
    return this.#tail;
  }

  /** Watches the directories of the configuration file and of the htpasswd file it names (again after each reload). */
  watch(): void {
    const dirs = new Set([dirname(this.file), ...(this.#current.auth?.htpasswd !== undefined ? [dirname(this.#current.auth.htpasswd)] : [])]);
    for (const [dir, watcher] of this.#watchers) {
      if (dirs.has(dir)) continue;
      watcher.close();
      this.#watchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, () => this.#changed());
        watcher.on('error', (err) => {
          this.log.warn({ dir, err: { message: err.message } }, 'watching a configuration directory failed: reload with SIGHUP');
          watcher.close();
          this.#watchers.delete(dir);
        });
        this.#watchers.set(dir, watcher);
      } catch (err) {
        this.log.warn({ dir, err: { message: (err as Error).message } }, 'cannot watch a configuration directory: reload with SIGHUP');
      }
    }
  }

  /** Stops watching; waits for a reload under way. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#debounce);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    await this.#tail;
  }

  #changed(): void {
    if (this.#closed) return;
    const now = Date.now();
    // Other files written steadily in the same directory must not postpone the read for ever.
    if (this.#debounce !== undefined && now - this.#firstEvent >= RELOAD_MAX_WAIT_MS) return;
    if (this.#debounce === undefined) this.#firstEvent = now;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      void this.reload('file change', false);
    }, RELOAD_DEBOUNCE_MS);
  }

  async #attempt(trigger: ReloadTrigger, force: boolean): Promise<void> {
    if (this.#closed) return;
    const fields: Record<string, unknown> = { config: this.file, trigger };
    // The digest covers what was read, valid or not: an unchanged invalid file is reported once.
    const text = await readText(this.file);
    let parsed: { settings: S } | { error: unknown };
    try {
      parsed = { settings: await this.source.load() };
    } catch (error) {
      parsed = { error };
    }
    const htpasswd = 'settings' in parsed ? await readText(parsed.settings.auth?.htpasswd) : undefined;
    const seen = digest(text, htpasswd);
    if (!force && seen === this.#seen) return;
    this.#seen = seen;
    fields.attempt = ++this.#attempts;
    try {
      if ('error' in parsed) throw parsed.error;
      const next = parsed.settings;
      const restart = differences(restartOnly(this.started), restartOnly(next), '');
      await this.#apply(next, htpasswd, fields);
      this.#current = next;
      this.metrics.record(true, Date.now());
      this.log.info(fields, 'configuration reloaded');
      if (restart.length > 0) {
        this.log.warn({ ...fields, settings: restart }, `${restart.join(', ')} changed: needs a restart; the running values stay in effect`);
      }
    } catch (err) {
      this.metrics.record(false, Date.now());
      const message = err instanceof Error ? err.message : String(err);
      this.log.error({ ...fields, reason: message }, `configuration reload failed, the previous configuration stays in effect: ${message}`);
      return;
    }
    this.watch();
  }

  /** Builds everything the new settings need, then replaces the live values in one synchronous step. */
  async #apply(next: S, htpasswdText: string | undefined, fields: Record<string, unknown>): Promise<void> {
    const auth = this.targets.auth;
    let policy: AccessPolicy | undefined;
    let users: Awaited<ReturnType<typeof loadUsers>> | undefined;
    if (auth && next.auth && next.auth.mode !== 'none') {
      policy = new AccessPolicy(next.auth.policy);
      if (auth.users && next.auth.htpasswd !== undefined) {
        if (htpasswdText === undefined) throw new ConfigError(`cannot read htpasswd file ${next.auth.htpasswd}`);
        users = await loadUsers(next.auth, htpasswdText);
      }
    }
    const rules = next.upkeep?.storagePolicy ?? {};
    new StoragePolicy(rules); // throws on what the live holder's map() could not compile
    // From here on, nothing throws or waits: the new values take effect together.
    if (policy) auth!.policy.set(policy);
    if (users?.users) auth!.users!.set(users.users);
    this.targets.storagePolicy.set(rules);
    this.targets.gc.set(gcOptionsOf(next));
    for (const n of users?.notices ?? []) if (n.msg !== 'users loaded') this.log[n.level](n.fields, n.msg);
    Object.assign(fields, {
      ...(users?.users ? { users: users.users.size } : {}),
      ...(policy ? { rules: next.auth!.policy.rules?.length ?? 0 } : {}),
      retention: rules.retention?.length ?? 0,
      immutableTags: rules.immutableTags?.length ?? 0,
      untagged: rules.untagged?.length ?? 0,
    });
  }
}
