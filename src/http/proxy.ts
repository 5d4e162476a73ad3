/**
 * Trusted reverse proxies: the client address is taken from X-Forwarded-For,
 * and the public origin (scheme and host the client used) from
 * X-Forwarded-Proto and X-Forwarded-Host, only when the peer of the
 * connection is one of the configured proxy addresses or CIDRs (walking
 * X-Forwarded-For from the right through trusted hops only, proxy-addr's
 * rule). Otherwise the peer's address is the client, and the origin is the
 * local address the connection arrived on: never a Host header, which any
 * client chooses.
 */
import proxyaddr from '@fastify/proxy-addr';
import type { FastifyRequest } from 'fastify';

const HOST_RE = /^[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?$/;

function last(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[header.length - 1] : header;
  if (value === undefined) return undefined;
  const comma = value.lastIndexOf(',');
  return (comma === -1 ? value : value.slice(comma + 1)).trim();
}

export class TrustedProxies {
  /** Fastify's `trustProxy` option for the same proxies (request.ip in logs agrees with clientAddress). */
  readonly trust: (address: string, hop: number) => boolean;
  readonly list: readonly string[];

  /** `list`: addresses and CIDRs (IPv4 or IPv6). Throws TypeError naming a bad entry. */
  constructor(list: readonly string[] = []) {
    for (const entry of list) {
      try {
        proxyaddr.compile(entry);
      } catch {
        throw new TypeError(`trusted proxy ${JSON.stringify(entry)} is not an IP address or CIDR`);
      }
    }
    this.list = [...list];
    const compiled = list.length > 0 ? proxyaddr.compile([...list]) : () => false;
    this.trust = (address: string, hop: number) => compiled(address, hop);
  }

  /** Whether the connection's peer is a trusted proxy. */
  peerTrusted(request: FastifyRequest): boolean {
    const peer = request.raw.socket?.remoteAddress;
    return peer !== undefined && this.trust(peer, 0);
  }

  /** The client's address: the peer's, or the one a trusted proxy forwarded. */
  clientAddress(request: FastifyRequest): string {
    return proxyaddr(request.raw, this.trust);
  }

  /**
   * `scheme://host[:port]` the client used: from X-Forwarded-Proto/-Host
   * when a trusted proxy sent them, else the local address of the connection.
   */
  origin(request: FastifyRequest): string {
    if (this.peerTrusted(request)) {
      const host = last(request.headers['x-forwarded-host']);
      const proto = last(request.headers['x-forwarded-proto'])?.toLowerCase();
      if (host !== undefined && HOST_RE.test(host)) return `${proto === 'https' ? 'https' : 'http'}://${host}`;
    }
    const socket = request.raw.socket;
    let address = socket?.localAddress ?? '127.0.0.1';
    if (address.startsWith('::ffff:') && address.includes('.')) address = address.slice(7);
    const host = address.includes(':') ? `[${address}]` : address;
    const encrypted = (socket as { encrypted?: boolean } | undefined)?.encrypted === true;
    return `${encrypted ? 'https' : 'http'}://${host}:${socket?.localPort ?? 80}`;
  }
}
