/**
 * Keeping secrets out of logs. Spread `authLogOptions` into the pino options
 * of the server's logger: pino `redact` removes credentials wherever a
 * serializer or a log call would put them (Authorization headers, password
 * and token fields of queries and bodies), and the `req` serializer (the one
 * Fastify uses for "incoming request" lines) masks such query parameters in
 * the logged URL.
 */
const SECRET_FIELDS = ['password', 'refresh_token', 'access_token', 'token', 'client_secret'];

export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["proxy-authorization"]',
  ...SECRET_FIELDS.flatMap((f) => [`req.query.${f}`, `req.body.${f}`, `query.${f}`, `body.${f}`]),
];

/** `url` with the values of secret query parameters replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq === -1 ? pair : pair.slice(0, eq);
      let name = key;
      try {
        name = decodeURIComponent(key.replace(/\+/g, ' '));
      } catch {
        // keep it raw
      }
      return eq !== -1 && SECRET_FIELDS.includes(name.toLowerCase()) ? `${key}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${query.join('&')}`;
}

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** pino options: `redact` and the `req` serializer. */
export const authLogOptions = {
  redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
  serializers: {
    req: (req: LoggedRequest) => ({
      method: req.method,
      url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
      host: req.host,
      remoteAddress: req.ip,
      remotePort: req.socket?.remotePort,
    }),
  },
};
