/**
 * Child processes of the interop suite: client commands (run) and daemons
 * (containerd, dockerd). Each runs in a process group of its own, with a
 * time limit for commands; nothing of them outlives the test process, also
 * when it is interrupted (the 'exit' and signal handlers below kill their
 * groups and remove the temp dirs left).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeLiveDirsSync } from './tempdirs.js';

/** Per-command time limit (ms); INTEROP_STEP_TIMEOUT in seconds. */
export const COMMAND_TIMEOUT_MS = Number(process.env.INTEROP_STEP_TIMEOUT ?? 180) * 1000;

export interface CommandResult {
  readonly command: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  /** stdout as bytes (binary-safe). */
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
  readonly ms: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  /** stdin contents. */
  input?: string | Buffer;
  /** stdout is binary: kept in stdoutBytes only, not shown in failure messages. */
  binaryStdout?: boolean;
}

export class CommandError extends Error {
  constructor(readonly result: CommandResult) {
    const why = result.signal ? `killed by ${result.signal}` : `exit ${result.code}`;
    super(`command failed (${why}): ${result.command}\n${lastLines(result.stderr || result.stdout, 8)}`);
    this.name = 'CommandError';
  }
}

/** Every command output of the running step goes here (see recordCommandsInto). */
let currentTranscript: CommandResult[] | undefined;

/** From now on the results of run() are appended to `transcript` (undefined: no longer recorded). */
export function recordCommandsInto(transcript: CommandResult[] | undefined): void {
  currentTranscript = transcript;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function lastLines(text: string, n: number): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.length <= n ? lines.join('\n') : [`… (${lines.length - n} earlier lines)`, ...lines.slice(-n)].join('\n');
}

/** Runs a command (own process group, time limit, output captured); throws CommandError on failure. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const command = [cmd, ...args].map(quote).join(' ');
  const started = Date.now();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...options.env })) if (v !== undefined) env[k] = v;
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    commands.add(child);
    child.once('exit', () => commands.delete(child));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    const limit = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, limit);
    child.once('error', (e) => {
      clearTimeout(timer);
      const result: CommandResult = { command, code: null, signal: null, stdout: '', stdoutBytes: Buffer.alloc(0), stderr: String(e), ms: Date.now() - started };
      currentTranscript?.push(result);
      reject(new CommandError(result));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (timedOut ? `\n[interop] timed out after ${limit / 1000} s: process group killed\n` : '');
      const bytes = Buffer.concat(out);
      const stdout = options.binaryStdout ? `(${bytes.length} bytes of binary output)` : bytes.toString('utf8');
      const result: CommandResult = { command, code, signal, stdout, stdoutBytes: bytes, stderr, ms: Date.now() - started };
      currentTranscript?.push(result);
      if (code === 0 || options.allowFailure) resolve(result);
      else reject(new CommandError(result));
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

/** A long-running process started by the suite (containerd, dockerd). */
export class Daemon {
  private exitedFlag = false;
  readonly exited: Promise<void>;
  private readonly log: WriteStream;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        this.exitedFlag = true;
        daemons.delete(this);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return !this.exitedFlag;
  }

  /** Starts `cmd` in its own process group, output appended to `logFile`; waits until `ready()` is true. */
  static async start(name: string, cmd: string, args: readonly string[], options: { logFile: string; ready: () => Promise<boolean>; timeoutMs?: number; env?: Record<string, string> }): Promise<Daemon> {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...options.env } });
    const daemon = new Daemon(name, child, options.logFile);
    daemons.add(daemon);
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
      if (failed) throw new Error(`${name}: cannot start ${cmd}: ${failed.message}`);
      if (!daemon.running) throw new Error(`${name} (pid ${child.pid}) exited during startup; its log:\n${await daemon.logTail(60)}`);
      if (await options.ready().catch(() => false)) return daemon;
      if (Date.now() > deadline) {
        await daemon.stop();
        throw new Error(`${name} (pid ${child.pid}) not ready within ${(options.timeoutMs ?? 60_000) / 1000} s; its log:\n${await daemon.logTail(60)}`);
      }
    }
  }

  /** SIGTERM, wait up to `graceMs`, then SIGKILL of its process group (it may have children, e.g. dockerd's containerd). */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
      const outcome = await Promise.race([this.exited.then(() => 'exited' as const), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') killGroup(this.child, 'SIGKILL');
      await this.exited;
    }
    // Children left in its group (normally none) go too.
    killGroup(this.child, 'SIGKILL');
    await new Promise<void>((r) => this.log.end(() => r()));
  }

  async logTail(lines = 40): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return lastLines(text, lines) || '(empty)';
  }

  /** Log length now, for logSince(). */
  async logSize(): Promise<number> {
    const f = await open(this.logFile, 'r').catch(() => undefined);
    if (!f) return 0;
    try {
      return (await f.stat()).size;
    } finally {
      await f.close();
    }
  }

  async logSince(offset: number, lines = 40): Promise<string> {
    const buf = await readFile(this.logFile).catch(() => Buffer.alloc(0));
    return lastLines(buf.subarray(offset).toString('utf8'), lines);
  }
}

const daemons = new Set<Daemon>();
/** Client commands still running. */
const commands = new Set<ChildProcess>();

function killEverything(): void {
  for (const c of commands) killGroup(c, 'SIGKILL');
  for (const d of daemons) killGroup(d.child, 'SIGKILL');
  removeLiveDirsSync();
}

// Daemons and commands run in process groups of their own: nothing of them may outlive this process,
// also when it is interrupted (process.exit runs the 'exit' handlers, which also stop the servers).
process.once('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killEverything();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

/** Is `cmd` on PATH? */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

/** Reads a file of `dir` written by a client (e.g. --digestfile), trimmed. */
export async function readTrimmed(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

/** First line of a command's output, or the error. */
export async function versionOf(cmd: string, args: readonly string[]): Promise<string> {
  const r = await run(cmd, args, { allowFailure: true, timeoutMs: 30_000 }).catch((e: unknown) => ({ stdout: '', stderr: String(e), code: 1 }));
  const text = (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
  return r.code === 0 ? text : `unavailable (${text})`;
}
