/** The gc, retention and immutableTags sections of the configuration file: parsed, or refused naming the key. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigFile } from '../../src/server/config.js';

describe('configuration file: storage upkeep sections', () => {
  it('parses every setting', () => {
    const text = [
      'gc:',
      '  intervalSeconds: 600',
      '  graceSeconds: 1.5',
      '  untagged:',
      '    - repositories: ["ci/**"]',
      '      olderThanSeconds: 86400',
      '      orphanReferrers: false',
      '    - repositories: ["tmp/*"]',
      'retention:',
      '  - repositories: ["apps/**", "web"]',
      '    keepLast: 10',
      '    keepWithinDays: 30',
      '    exceptTags: ["latest", "v*"]',
      '  - repositories: ["nightly/**"]',
      '    keepWithinSeconds: 3600',
      'immutableTags:',
      '  - repositories: ["releases/**"]',
      '    tags: ["v*.*.*"]',
      '  - repositories: ["frozen"]',
    ].join('\n');
    assert.deepEqual(parseConfigFile(text, '/etc/ferro/config.yaml'), {
      upkeep: {
        gc: { intervalMs: 600_000, graceMs: 1500 },
        storagePolicy: {
          untagged: [{ repositories: ['ci/**'], olderThanMs: 86_400_000, orphanReferrers: false }, { repositories: ['tmp/*'] }],
          retention: [
            { repositories: ['apps/**', 'web'], keepLast: 10, keepWithinMs: 30 * 86_400_000, exceptTags: ['latest', 'v*'] },
            { repositories: ['nightly/**'], keepWithinMs: 3_600_000 },
          ],
          immutableTags: [{ repositories: ['releases/**'], tags: ['v*.*.*'] }, { repositories: ['frozen'] }],
        },
      },
    });
    assert.deepEqual(parseConfigFile('gc:\n  graceSeconds: 0\n', '/x.yaml'), { upkeep: { gc: { graceMs: 0 } } });
    assert.deepEqual(parseConfigFile('{"auth": {"mode": "none"}}', '/x.json').upkeep, undefined);
  });

  it('refuses bad settings, naming them', () => {
    const bad: Array<[string, RegExp]> = [
      ['gc:\n  interval: 5', /gc\.interval: unknown setting/],
      ['gc:\n  graceSeconds: "1h"', /gc\.graceSeconds: must be a number of seconds from 0 to 31622400 \(from \/x\/config\.yaml\)$/],
      ['gc:\n  untagged: {repositories: [a]}', /gc\.untagged: must be a list/],
      ['gc:\n  untagged:\n    - {olderThanSeconds: 5}', /gc\.untagged\[0\]\.repositories: is required/],
      ['gc:\n  untagged:\n    - {repositories: ["a/(.*)"]}', /gc\.untagged\[0\]\.repositories: invalid repository pattern/],
      ['gc:\n  untagged:\n    - {repositories: [a], orphanReferrers: "no"}', /orphanReferrers: must be true or false/],
      ['retention:\n  - {repositories: [a]}', /retention\[0\]: needs keepLast, keepWithinDays or keepWithinSeconds/],
      ['retention:\n  - {repositories: [a], keepLast: -1}', /retention\[0\]\.keepLast: must be an integer/],
      ['retention:\n  - {repositories: [a], keepWithinDays: 1, keepWithinSeconds: 1}', /not both/],
      ['retention:\n  - {repositories: [a], keepLast: 1, exceptTags: ["a/b"]}', /retention\[0\]\.exceptTags: invalid tag pattern/],
      ['retention:\n  - {repositories: [], keepLast: 1}', /retention\[0\]\.repositories: must not be empty/],
      ['immutableTags:\n  - {repositories: [a], tags: []}', /immutableTags\[0\]\.tags: must not be empty/],
      ['immutableTags:\n  - {repositories: [a], tag: [v1]}', /immutableTags\[0\]\.tag: unknown setting/],
      ['immutableTags: {repositories: [a]}', /immutableTags: must be a list/],
      ['retention: 5', /retention: must be a list/],
    ];
    for (const [text, re] of bad) {
      assert.throws(() => parseConfigFile(text, '/x/config.yaml'), (err: unknown) => err instanceof ConfigError && re.test(err.message) && err.message.includes('/x/config.yaml'), text);
    }
  });
});
