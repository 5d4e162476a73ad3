/**
 * A throwaway PostgreSQL server for tests, from Debian's packages
 * (`apt-get install -y postgresql`: /usr/lib/postgresql/<major>/bin).
 *
 * startPostgres() runs initdb and `pg_ctl start` in a fresh temp dir: data in
 * <dir>/data, the unix socket in <dir>/sock, TCP on 127.0.0.1 on a free port,
 * trust authentication, durability off (fsync, full_page_writes) for speed.
 * initdb refuses to run as root, so under root every server binary runs as
 * the `postgres` system user (`runuser -u postgres --`) and the dir is
 * chowned to it. halt() and restart() stop and start the same server (an
 * outage); freeze() and thaw() make it hang and resume. stop() does
 * `pg_ctl stop -m fast` and removes the dir; a test process exiting without
 * stop() kills the server (-m immediate).
 * postgresUnavailable() says why no server can be started (tests skip then).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './net.js';

const run = promisify(execFile);
const PG_ROOT = '/usr/lib/postgresql';
const SUPERUSER = 'postgres';

export interface TestPostgres {
  /** pg client settings: the superuser over the unix socket, database `postgres`. */
  readonly config: { readonly host: string; readonly port: number; readonly user: string; readonly database: string };
  /** The same server over TCP. */
  readonly connectionString: string;
  readonly version: string;
  /** Stops the server (fast shutdown: sessions are terminated), keeping its files: an outage. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port and data. */
  restart(): Promise<void>;
  /** SIGSTOPs the server and all its processes: connections stay open but nothing answers. */
  freeze(): void;
  /** SIGCONTs what freeze() stopped. */
  thaw(): void;
  /** Stops the server (fast shutdown) and removes its files. Idempotent. */
  stop(): Promise<void>;
}

/** The newest installed server's bin dir, or undefined. */
function findBinDir(): string | undefined {
  if (!existsSync(PG_ROOT)) return undefined;
  const majors = readdirSync(PG_ROOT)
    .filter((v) => existsSync(join(PG_ROOT, v, 'bin', 'initdb')) && existsSync(join(PG_ROOT, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : join(PG_ROOT, majors[0], 'bin');
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Why startPostgres() cannot work here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'PostgreSQL tests need Linux with Debian PostgreSQL packages';
  if (findBinDir() === undefined) {
    return `no PostgreSQL server binaries in ${PG_ROOT}/*/bin (install them with: apt-get install -y postgresql)`;
  }
  if (isRoot()) {
    try {
      execFileSync('id', ['-u', SUPERUSER], { stdio: 'ignore' });
      execFileSync('runuser', ['--help'], { stdio: 'ignore' });
    } catch {
      return `running as root needs the '${SUPERUSER}' system user and runuser (util-linux) to start PostgreSQL as non-root`;
    }
  }
  return undefined;
}

/** The postmaster of the server in `data` (from postmaster.pid) and its children, read from /proc. */
function serverProcesses(data: string): number[] {
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

/** argv running `bin` as the postgres user when we are root. */
function asServerUser(bin: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', SUPERUSER, '--', bin, ...args]] : [bin, args];
}

async function runServerTool(binDir: string, tool: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<string> {
  const [file, argv] = asServerUser(join(binDir, tool), args);
  try {
    const { stdout, stderr } = await run(file, argv, { cwd, timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${tool} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Starts a fresh server; throws (with the server log) when it does not come up. See the file comment. */
export async function startPostgres(): Promise<TestPostgres> {
  const unavailable = postgresUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  const binDir = findBinDir() as string;
  const dir = await mkdtemp(join(tmpdir(), 'ferro-pg-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  const log = join(dir, 'postgres.log');
  await mkdir(sock);
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim());
    await chown(dir, uid, gid);
    await chown(sock, uid, gid);
  }

  let stopped = false;
  let frozen: number[] = [];
  const thaw = (): void => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // exited
      }
    }
    frozen = [];
  };
  const killOnExit = (): void => {
    if (stopped) return;
    thaw();
    try {
      const [file, argv] = asServerUser(join(binDir, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']);
      execFileSync(file, argv, { cwd: dir, stdio: 'ignore', timeout: 10_000 });
    } catch {
      // not running
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  try {
    await runServerTool(binDir, 'initdb', ['-D', data, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], dir);
    let port = 0;
    let options = '';
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      options = [
        `-p ${port}`,
        `-k ${sock}`,
        "-c listen_addresses='127.0.0.1'",
        '-c fsync=off',
        '-c full_page_writes=off',
        '-c synchronous_commit=off',
        '-c max_connections=200',
      ].join(' ');
      try {
        await runServerTool(binDir, 'pg_ctl', ['start', '-D', data, '-l', log, '-w', '-t', '30', '-o', options], dir);
        break;
      } catch (err) {
        if (attempt >= 3) throw err; // the port may have been taken meanwhile
      }
    }
    const version = (await runServerTool(binDir, 'postgres', ['--version'], dir)).trim();
    let halted = false;
    return {
      config: { host: sock, port, user: SUPERUSER, database: 'postgres' },
      connectionString: `postgresql://${SUPERUSER}@127.0.0.1:${port}/postgres`,
      version,
      async halt() {
        await runServerTool(binDir, 'pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30'], dir);
        halted = true;
      },
      async restart() {
        await runServerTool(binDir, 'pg_ctl', ['start', '-D', data, '-l', log, '-w', '-t', '30', '-o', options], dir);
        halted = false;
      },
      freeze() {
        frozen = serverProcesses(data);
        for (const pid of frozen) process.kill(pid, 'SIGSTOP');
      },
      thaw,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', killOnExit);
        thaw();
        try {
          if (!halted) await runServerTool(binDir, 'pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30'], dir);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    const tail = (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
    killOnExit();
    stopped = true;
    process.removeListener('exit', killOnExit);
    throw new Error(`could not start PostgreSQL: ${err instanceof Error ? err.message : String(err)}\n${tail}`, { cause: err });
  }
}
