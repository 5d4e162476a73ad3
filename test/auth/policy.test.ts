/** The access policy, in-process. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessPolicy } from '../../src/auth/policy.js';

describe('access policy', () => {
  const policy = new AccessPolicy({
    groups: { devs: ['bob'], ops: ['olga'] },
    admins: { users: ['root'], groups: ['ops'] },
    rules: [
      { repositories: ['team-a/**'], users: ['alice'], actions: ['pull', 'push'] },
      { repositories: ['team-b/**'], groups: ['devs'], actions: ['pull', 'push', 'delete'] },
      { repositories: ['shared/*'], users: ['*'], actions: ['pull'] },
      { repositories: ['public/**'], anonymousPull: true },
    ],
  });

  it('grants per user, group, any authenticated user, anonymous pull and admin', () => {
    const a = (u: string | undefined, r: string) => [...policy.actions(u, r)].sort().join(',');
    assert.equal(a('alice', 'team-a/app'), 'pull,push');
    assert.equal(a('alice', 'team-b/app'), '');
    assert.equal(a('bob', 'team-b/x/y'), 'delete,pull,push');
    assert.equal(a('alice', 'shared/x'), 'pull');
    assert.equal(a(undefined, 'shared/x'), '');
    assert.equal(a(undefined, 'public/x'), 'pull');
    assert.equal(a('alice', 'public/x'), 'pull');
    assert.equal(a(undefined, 'team-a/app'), '');
    assert.equal(a('root', 'anything'), 'delete,pull,push');
    assert.equal(a('olga', 'anything/else'), 'delete,pull,push');
    assert.equal(a('mallory', 'team-a/app'), '');
  });
});
