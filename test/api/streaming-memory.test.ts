// Streaming: no blob is held whole in memory, on the way in or out (over real HTTP).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { startRegistry } from '../../support/registry.js';

const MiB = 1024 * 1024;
const TOTAL = 256 * MiB;

// The client cycles through 8 distinct 1 MiB blocks, so that its own allocations stay small and fixed.
const BLOCKS = Array.from({ length: 8 }, (_, i) => Buffer.alloc(MiB, `block ${i} `));
function block(i: number): Buffer {
  return BLOCKS[i % BLOCKS.length]!;
}

function digestOfStream(): string {
  const hash = createHash('sha256');
  for (let i = 0; i < TOTAL / MiB; i++) hash.update(block(i));
  return `sha256:${hash.digest('hex')}`;
}

describe('streaming memory [disk]', () => {
  it('a 256 MiB push and pull keep the process RSS growth under half the blob size', async () => {
    const reg = await startRegistry('disk');
    try {
      const digest = digestOfStream();
      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const start = await fetch(`${reg.url}/v2/mem/blobs/uploads/`, { method: 'POST' });
      const location = start.headers.get('location')!;
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${reg.url}${location}?digest=${digest}`, { method: 'PUT', headers: { 'content-length': TOTAL } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        let i = 0;
        const write = (): void => {
          while (i < TOTAL / MiB) {
            if (!req.write(block(i++))) {
              req.once('drain', write);
              return;
            }
          }
          req.end();
        };
        write();
      });
      assert.equal(status, 201);
      const res = await fetch(`${reg.url}/v2/mem/blobs/${digest}`);
      const hash = createHash('sha256');
      let received = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        received += chunk.byteLength;
      }
      clearInterval(timer);
      assert.equal(received, TOTAL);
      assert.equal(`sha256:${hash.digest('hex')}`, digest);
      const growth = (peak - baseline) / MiB;
      // Client and server share this process; a registry holding the blob would add ≥ 256 MiB.
      assert.ok(growth < 128, `RSS grew by ${growth.toFixed(1)} MiB while moving 256 MiB`);
    } finally {
      await reg.close();
    }
  });
});
