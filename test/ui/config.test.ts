/** The `ui` section of the configuration file, through the server binary. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnServer, startServer } from '../../support/server-process.js';

async function withConfig(text: string, run: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ferro-oci-ui-config-'));
  try {
    const file = join(dir, 'config.yaml');
    await writeFile(file, text);
    await run(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('ui.publicHost goes into the page; ui.enabled: false turns the page and its API off', async () => {
  await withConfig('ui:\n  publicHost: registry.example.com:8443\n', async (file) => {
    const server = await startServer({ args: ['--config', file] });
    try {
      assert.match(await (await fetch(`${server.url}/ui/`)).text(), /<meta name="ferro-public-host" content="registry\.example\.com:8443">/);
    } finally {
      await server.stop();
    }
  });
  await withConfig('ui:\n  enabled: false\n', async (file) => {
    const server = await startServer({ args: ['--config', file] });
    try {
      assert.equal((await fetch(`${server.url}/ui/`)).status, 404);
      assert.notEqual((await fetch(`${server.url}/v2/_ferro/ui/session`)).status, 200);
    } finally {
      await server.stop();
    }
  });
});

test('ui.corsOrigins allows the listed origins', async () => {
  await withConfig('ui:\n  corsOrigins: ["http://ui.example.com:8080"]\n', async (file) => {
    const server = await startServer({ args: ['--config', file] });
    try {
      const res = await fetch(`${server.url}/v2/_ferro/ui/session`, { headers: { origin: 'http://ui.example.com:8080' } });
      assert.equal(res.headers.get('access-control-allow-origin'), 'http://ui.example.com:8080');
    } finally {
      await server.stop();
    }
  });
});

test('a bad ui section stops the server with a message naming the key', async () => {
  await withConfig('ui:\n  publicHost: "not a host"\n', async (file) => {
    const server = spawnServer({ args: ['--config', file] });
    assert.equal((await server.exited).code, 2);
    assert.match(server.logs.join('\n'), /ui\.publicHost: must be a host name/);
  });
});
