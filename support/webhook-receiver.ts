/**
 * A webhook receiver on loopback for event delivery tests: records every
 * POST (headers, body), answers `status` (settable: 503 plays a receiver
 * that is down), and checks Standard Webhooks signatures.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  readonly json: Record<string, unknown>;
}

export interface WebhookReceiver {
  readonly url: string;
  /** Every 2xx-answered POST (empty with `record: false`). */
  readonly received: ReceivedRequest[];
  /** How many POSTs were answered 2xx (counted with `record: false` too). */
  readonly accepted: number;
  /** What POSTs are answered with (default 204). */
  status: number;
  /** Wait this long before answering (default 0): a slow receiver. */
  delayMs: number;
  /** Resolves once `done(received)` holds; rejects after `timeoutMs`. */
  waitFor(done: (received: readonly ReceivedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** `record: false` (the benchmark's receiver) only counts the POSTs, keeping and parsing nothing. */
export async function startWebhookReceiver(options: { record?: boolean } = {}): Promise<WebhookReceiver> {
  const received: ReceivedRequest[] = [];
  const state = { status: 204, delayMs: 0, accepted: 0 };
  const record = options.record !== false;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.status >= 200 && state.status < 300) state.accepted++;
      if (record && state.status >= 200 && state.status < 300) {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ path: req.url ?? '/', headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown> });
      }
      const status = state.status;
      setTimeout(() => res.writeHead(status).end(), state.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get accepted() {
      return state.accepted;
    },
    get status() {
      return state.status;
    },
    set status(s: number) {
      state.status = s;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    async waitFor(done, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(received)) {
        if (Date.now() > deadline) throw new Error(`webhook receiver: condition not met within ${timeoutMs} ms (${received.length} requests received)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Whether the request carries a valid Standard Webhooks signature for `secret` (`whsec_` + base64). */
export function validSignature(request: ReceivedRequest, secret: string): boolean {
  const id = request.headers['webhook-id'];
  const timestamp = request.headers['webhook-timestamp'];
  const header = request.headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof header !== 'string') return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${request.body}`).digest();
  return header.split(' ').some((sig) => {
    const [version, value] = sig.split(',');
    const given = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}
