/**
 * `ferro-oci-server --version` and `ferro-oci-server healthcheck`: the two
 * commands a container needs without curl or a shell in the image.
 *
 * healthcheck asks the local server's /ready (the address it listens on:
 * --listen, else FERRO_OCI_LISTEN, else the default; an all-interfaces host is
 * asked on loopback) and exits 0 on 200, 1 otherwise (not answering, 503,
 * timeout), printing why; 2 on bad usage.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_LISTEN, parseListen } from './config.js';

export interface ProbeOutput {
  write(text: string): unknown;
}

/** The version in the package's package.json (dist/src/server/ -> the package root). */
export async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const HEALTHCHECK_USAGE = [
  'Usage: ferro-oci-server healthcheck [--listen ADDR] [--path PATH] [--timeout SECONDS]',
  '',
  "Asks the local server's PATH (default /ready) and exits 0 when it answers 200, 1 otherwise.",
  'ADDR defaults to FERRO_OCI_LISTEN, else 0.0.0.0:8080; 0.0.0.0 and :: are asked on loopback.',
  'For a container HEALTHCHECK or an exec probe. Exit codes: 0 healthy, 1 not healthy, 2 bad usage.',
  '',
].join('\n');

/** The URL healthcheck asks, from its flags and the environment. Throws ConfigError. */
export function healthcheckUrl(argv: readonly string[], env: NodeJS.ProcessEnv): { url: string; timeoutMs: number } | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: { listen: { type: 'string' }, path: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) return 'help';
  const flag = values.listen;
  const listen = typeof flag === 'string' ? parseListen(flag, '--listen') : env.FERRO_OCI_LISTEN ? parseListen(env.FERRO_OCI_LISTEN, 'FERRO_OCI_LISTEN') : parseListen(DEFAULT_LISTEN, 'default');
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '[::1]' : listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const path = typeof values.path === 'string' ? values.path : '/ready';
  if (!path.startsWith('/')) throw new ConfigError(`invalid --path ${JSON.stringify(path)}: must start with /`);
  const seconds = typeof values.timeout === 'string' ? Number(values.timeout) : 5;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 300) throw new ConfigError(`invalid --timeout ${JSON.stringify(values.timeout)}: expected seconds from 0 to 300`);
  return { url: `http://${host}:${listen.port}${path}`, timeoutMs: Math.round(seconds * 1000) };
}

export async function runHealthcheckCommand(argv: readonly string[], env: NodeJS.ProcessEnv, out: ProbeOutput, err: ProbeOutput): Promise<number> {
  let target;
  try {
    target = healthcheckUrl(argv, env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err.write(`ferro-oci-server healthcheck: ${e.message}\n`);
    return 2;
  }
  if (target === 'help') {
    out.write(HEALTHCHECK_USAGE);
    return 0;
  }
  try {
    const res = await fetch(target.url, { signal: AbortSignal.timeout(target.timeoutMs) });
    const body = (await res.text()).slice(0, 500);
    if (res.status === 200) {
      out.write(`${target.url}: ${res.status} ${body}\n`);
      return 0;
    }
    err.write(`${target.url}: ${res.status} ${body}\n`);
    return 1;
  } catch (e) {
    const cause = e instanceof Error ? ((e.cause as { code?: string } | undefined)?.code ?? e.message) : String(e);
    err.write(`${target.url}: no answer (${cause})\n`);
    return 1;
  }
}
