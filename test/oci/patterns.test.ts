/** Repository name patterns, in-process. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RepositoryPattern } from '../../src/oci/patterns.js';

const m = (pattern: string, name: string) => RepositoryPattern.compile(pattern).matches(name);

describe('repository patterns', () => {
  it('literal, *, ** semantics, anchored at both ends', () => {
    const cases: Array<[string, string, boolean]> = [
      ['team/app', 'team/app', true],
      ['team/app', 'team/app2', false],
      ['team/app', 'x/team/app', false],
      ['team/*', 'team/app', true],
      ['team/*', 'team', false],
      ['team/*', 'team/a/b', false],
      ['team/**', 'team', true],
      ['team/**', 'team/a', true],
      ['team/**', 'team/a/b/c', true],
      ['team/**', 'teams/a', false],
      ['**', 'anything/at/all', true],
      ['**/app', 'app', true],
      ['**/app', 'a/b/app', true],
      ['**/app', 'a/b/app2', false],
      ['a/**/z', 'a/z', true],
      ['a/**/z', 'a/b/c/z', true],
      ['a/**/z', 'a/b/c/zz', false],
      ['team-*/app', 'team-a/app', true],
      ['team-*/app', 'team-/app', true],
      ['team-*/app', 'teama/app', false],
      ['*-dev', 'api-dev', true],
      ['*-dev', 'api-dev-x', false],
      ['a*b*c', 'abc', true],
      ['a*b*c', 'aXbYc', true],
      ['a*b*c', 'acb', false],
      ['ab*ba', 'aba', false],
      ['*', 'a/b', false],
      ['team.a/**', 'teamxa/app', false],
      ['team.a/**', 'team.a/app', true],
    ];
    for (const [p, n, expected] of cases) assert.equal(m(p, n), expected, `${p} vs ${n}`);
  });

  it('refuses patterns with other characters (no regex or path syntax), empty components, partial **', () => {
    for (const bad of ['', 'a//b', '/a', 'a/', 'a**', 'a/**b', 'team/(.*)', 'a|b', 'a?b', '[ab]', 'a\\b', 'A/b', 'a b', '../x', 'x/../y', 'x/.', '%2e%2e/x']) {
      assert.throws(() => RepositoryPattern.compile(bad), /invalid repository pattern/, JSON.stringify(bad));
    }
  });

  it('property: a pattern without * matches exactly itself; * never crosses a "/"', () => {
    const component = fc.stringMatching(/^[a-z0-9]{1,6}$/);
    const name = fc.array(component, { minLength: 1, maxLength: 5 }).map((c) => c.join('/'));
    fc.assert(
      fc.property(name, name, (a, b) => {
        assert.equal(m(a, b), a === b);
        assert.equal(m('*', b), !b.includes('/'));
        assert.equal(m('**', b), true);
        assert.equal(m(`${a}/**`, b), b === a || b.startsWith(`${a}/`));
      }),
      { numRuns: 300 },
    );
  });
});
