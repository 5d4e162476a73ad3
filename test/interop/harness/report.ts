/**
 * What the interop suite prints: a failed step's explanation (its client
 * commands, the server's and the daemons' log lines of that window), and
 * the plain lines before and after a client's suite (tool versions, pass
 * counts per server mode). Plain lines are written to stdout; node --test
 * shows them as `# [interop] …` lines.
 */
import { CommandError, lastLines, type CommandResult, type Daemon } from './processes.js';
import type { LogMark, Registry, ServerMode } from './server.js';

export interface Counts {
  pass: number;
  fail: number;
  skip: number;
}

const MAX_SERVER_LINES = 150;
const MAX_LINE = 1500;

export function clip(line: string): string {
  return line.length <= MAX_LINE ? line : `${line.slice(0, MAX_LINE)}… (${line.length} chars)`;
}

function formatTranscript(results: readonly CommandResult[]): string {
  if (results.length === 0) return '(no client command ran in this step)';
  const shown = results.slice(-4);
  const head = results.length > shown.length ? [`(${results.length - shown.length} earlier commands of this step passed)`] : [];
  return [
    ...head,
    ...shown.map((r) => {
      const status = r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
      const parts = [`$ ${r.command}   (${status}, ${(r.ms / 1000).toFixed(1)} s)`];
      if (r.stderr.trim()) parts.push(`[stderr]\n${lastLines(r.stderr, 60).split('\n').map(clip).join('\n')}`);
      if (r.stdout.trim()) parts.push(`[stdout]\n${lastLines(r.stdout, 30).split('\n').map(clip).join('\n')}`);
      return parts.join('\n');
    }),
  ].join('\n');
}

/** Where a step ran: the client, the mode, the server (once started) and the daemons whose logs are shown. */
export interface StepScene {
  readonly client: string;
  readonly mode: ServerMode;
  readonly registry: Registry | undefined;
  readonly watched: readonly Daemon[];
}

/** The error a failed step reports: the assertion, then the step's commands and log lines. */
export async function explainFailure(scene: StepScene, err: unknown, name: string, transcript: readonly CommandResult[], mark: LogMark | undefined, daemonMarks: readonly number[]): Promise<Error> {
  const { client, mode, registry, watched } = scene;
  // A failed command's output follows in full: keep only its first line here.
  const message = err instanceof CommandError ? (err.message.split('\n')[0] ?? '') : err instanceof Error ? err.message : String(err);
  const parts = [`${client} [${mode.label}] step "${name}" failed: ${message}`, '', '── client commands of this step ──', formatTranscript(transcript)];
  await registry?.sync(3_000).catch(() => undefined);
  if (registry && mark) {
    const lines = registry.linesSince(mark);
    const shown = lines.slice(-MAX_SERVER_LINES).map(clip);
    parts.push('', `── ferro-oci-server log during this step (${registry.url}, pid ${registry.pid}, ${lines.length} lines${lines.length > shown.length ? `, last ${shown.length} shown` : ''}) ──`, ...shown);
  }
  for (const [i, d] of watched.entries()) {
    const text = await d.logSince(daemonMarks[i] ?? 0, 60).catch((e: unknown) => `(cannot read: ${String(e)})`);
    parts.push('', `── ${d.name} log during this step (pid ${d.pid}) ──`, text || '(nothing)');
  }
  const frames = err instanceof Error && err.stack ? err.stack.split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 3) : [];
  if (frames.length > 0) parts.push('', '── where ──', ...frames.map((f) => f.trim()));
  const wrapped = new Error(parts.join('\n'));
  wrapped.stack = wrapped.message;
  return wrapped;
}

/** Writes `lines` as plain output, each prefixed with [interop]. */
export function printLines(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(lines.map((l) => `[interop] ${l}\n`).join(''));
}

/** Per-mode and total pass counts of one client, e.g. `skopeo [filesystem+sqlite]: 30/30 steps passed`. */
export function summaryLines(client: string, totals: ReadonlyMap<string, Counts>, versions: Record<string, string>): string[] {
  const lines: string[] = [];
  let pass = 0;
  let total = 0;
  let skipped = 0;
  for (const [label, c] of totals) {
    const n = c.pass + c.fail + c.skip;
    lines.push(`${client} [${label}]: ${c.pass}/${n} steps passed${c.fail ? `, ${c.fail} failed` : ''}${c.skip ? `, ${c.skip} skipped` : ''}`);
    pass += c.pass;
    total += n;
    skipped += c.skip;
  }
  const v = Object.entries(versions).map(([k, val]) => `${k} ${val}`).join(', ') || 'unknown';
  lines.push(`${client} total: ${pass}/${total} steps passed${skipped ? ` (${skipped} skipped)` : ''}; ${v}`);
  return lines;
}
