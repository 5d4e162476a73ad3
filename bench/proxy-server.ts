/**
 * The round-robin proxy in front of the replicas of `--targets replicas`,
 * run as its own process (so that its CPU counts neither as the load
 * generator's nor as a replica's): support/round-robin-proxy.ts, the proxy of
 * test/replicas/replicas.test.ts, with connections to the replicas kept alive
 * (as nginx' upstream keepalive would) and no replica ever marked dead: the
 * benchmark kills none.
 *
 * Env: PROXY_LISTEN=host:port, PROXY_TARGETS=host:port,host:port,…
 * Prints one JSON line {"msg":"listening","port":N} once it listens.
 */
import { startRoundRobinProxy } from '../support/round-robin-proxy.js';

const listen = process.env.PROXY_LISTEN ?? '127.0.0.1:0';
const sep = listen.lastIndexOf(':');
const targets = (process.env.PROXY_TARGETS ?? '')
  .split(',')
  .filter(Boolean)
  .map((hp) => {
    const i = hp.lastIndexOf(':');
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
  });
if (targets.length === 0) throw new Error('PROXY_TARGETS is empty');

const proxy = await startRoundRobinProxy(targets, { keepAlive: true, host: listen.slice(0, sep), port: Number(listen.slice(sep + 1)) });
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: proxy.port })}\n`);
process.once('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'stopping', ...proxy.stats })}\n`);
  void proxy.close().then(() => process.exit(0));
});
