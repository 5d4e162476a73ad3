/**
 * One webhook POST over node:http / node:https with keep-alive agents (one
 * pair per delivery, so connections are reused across events), cheaper per
 * event than fetch (docs/benchmarks.md, "Events and audit overhead").
 * Redirects are not followed.
 */
import http from 'node:http';
import https from 'node:https';

export interface WebhookAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** Keep-alive agents allowing `sockets` connections per origin. */
export function webhookAgents(sockets: number): WebhookAgents {
  return { http: new http.Agent({ keepAlive: true, maxSockets: sockets }), https: new https.Agent({ keepAlive: true, maxSockets: sockets }) };
}

/**
 * POSTs `body`; resolves undefined on a 2xx answer (its body read and
 * dropped), else what went wrong (`HTTP 503`, a network error, or no
 * complete answer within `timeoutMs`). Never rejects.
 */
export function postWebhook(url: string, headers: Readonly<Record<string, string>>, body: string, timeoutMs: number, agents: WebhookAgents, signal?: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return resolve(`invalid URL ${url}`);
    }
    const secure = target.protocol === 'https:';
    const payload = Buffer.from(body);
    let settled = false;
    const finish = (outcome: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    let req: http.ClientRequest;
    try {
      const options = { method: 'POST', agent: secure ? agents.https : agents.http, headers: { ...headers, 'content-length': String(payload.length) } };
      req = (secure ? https : http).request(target, options, (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', (err) => finish(err.message));
        res.on('end', () => finish(status >= 200 && status < 300 ? undefined : `HTTP ${status}`));
        res.resume();
      });
    } catch (err) {
      return resolve((err as Error).message); // e.g. a header value node:http refuses
    }
    const timer = setTimeout(() => {
      finish(`no answer within ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);
    const onAbort = () => {
      finish('aborted');
      req.destroy();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => finish(err.message));
    req.end(payload);
  });
}
