/**
 * No user enumeration by timing (issue 11 item 4): a failed login takes the
 * same time whether or not the user exists, whatever the bcrypt costs in the
 * file. The old code compared unknown users against a dummy hash of the most
 * common cost, so a user of another cost answered at another speed.
 *
 * Measured over HTTP (a failed Basic login on /v2/, the server in this
 * process), so the figure includes everything the server does. The bound is
 * on the server's work, so each try is measured in CPU time of this process
 * (process.cpuUsage: the server's work plus the client's, which is the same
 * for every kind), which other processes on a loaded machine do not inflate
 * as they do wall time; tries are interleaved in rotating order and medians
 * compared. Wall-clock medians are reported beside them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { basic, call, startAuthRegistry, type AuthRegistry } from './helpers.js';

const TRIES = 50;

describe('failed logins take the same time for known and unknown users', () => {
  let reg: AuthRegistry;
  before(async () => {
    // Mixed costs, the most common being 9 (the dummy cost of the old code): the cost-5 user answered 16x faster.
    const text = [`fast:${bcrypt.hashSync('fast-pass', 5)}`, `slow:${bcrypt.hashSync('slow-pass', 9)}`, `slow2:${bcrypt.hashSync('slow2-pass', 9)}`].join('\n');
    reg = await startAuthRegistry({ mode: 'basic', users: { text }, throttle: { maxFailures: 1000, maxAddressFailures: 1000 } });
  });
  after(() => reg.close());

  it(`medians of ${TRIES} interleaved failed logins: known users of each cost and unknown users within 10%`, async (t) => {
    const kinds = ['fast', 'slow', 'nobody'] as const;
    const times: Record<(typeof kinds)[number], number[]> = { fast: [], slow: [], nobody: [] };
    const wall: Record<(typeof kinds)[number], number[]> = { fast: [], slow: [], nobody: [] };
    const once = async (user: string): Promise<[number, number]> => {
      const t0 = process.hrtime.bigint();
      const cpu0 = process.cpuUsage();
      const res = await call(reg, 'GET', '/v2/', { authorization: basic(user, 'wrong-password') });
      const cpu = process.cpuUsage(cpu0);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.equal(res.status, 401);
      return [(cpu.user + cpu.system) / 1000, ms];
    };
    for (const k of kinds) await once(k); // warm-up
    for (let i = 0; i < TRIES; i++) {
      for (let j = 0; j < kinds.length; j++) {
        const k = kinds[(i + j) % kinds.length]!;
        const [cpu, ms] = await once(k);
        times[k].push(cpu);
        wall[k].push(ms);
      }
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
    };
    const m = { fast: median(times.fast), slow: median(times.slow), nobody: median(times.nobody) };
    const figures = `median CPU ms: cost-5 user ${m.fast.toFixed(1)}, cost-9 user ${m.slow.toFixed(1)}, unknown user ${m.nobody.toFixed(1)}`;
    t.diagnostic(figures);
    t.diagnostic(`median wall ms: cost-5 user ${median(wall.fast).toFixed(1)}, cost-9 user ${median(wall.slow).toFixed(1)}, unknown user ${median(wall.nobody).toFixed(1)}`);
    const values = Object.values(m);
    const spread = Math.max(...values) / Math.min(...values);
    assert.ok(spread <= 1.1, `${figures}: spread ${((spread - 1) * 100).toFixed(1)}% > 10%`);
  });
});
