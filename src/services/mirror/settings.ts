/**
 * What the mirror needs to know about each upstream registry (configured in
 * the file's `mirrors` section, server/mirror-config.ts, or given to
 * createRegistry as `mirrors`), and how a /v2 repository name maps to one.
 *
 * Addressing (docs/mirror.md): a request reaches upstream U three ways, and
 * its repository is always stored locally as `<U.namespace>/<upstream name>`:
 *   ?ns=<host>            a host U lists in `hosts`:   /v2/library/busybox/…?ns=docker.io
 *   a path prefix         U.namespace as first part:  /v2/docker.io/library/busybox/…
 *   the default upstream  any other name:             /v2/library/busybox/…
 */
import { RegistryError } from '../../oci/errors.js';

export interface UpstreamSettings {
  /** A label for logs and metrics. */
  readonly name: string;
  /** Base URL, e.g. https://registry-1.docker.io (no /v2). */
  readonly url: string;
  /** The local namespace (one repository-name component, e.g. `docker.io`) the cached repositories live under. */
  readonly namespace: string;
  /** `ns` query values (registry hosts) that select this upstream. */
  readonly hosts: readonly string[];
  /** The default upstream: names outside every namespace are its. At most one. */
  readonly default?: boolean;
  /** Basic credentials for the upstream (also used to obtain bearer tokens). */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** A cached tag is served without asking the upstream for this long after it was last checked. */
  readonly tagTtlMs: number;
  /** An upstream 404 is remembered for this long. */
  readonly notFoundTtlMs: number;
  /** While the upstream fails, a cached tag checked less than this long ago is served (with a Warning). */
  readonly staleMs: number;
  /** Waiting for the upstream's response headers, and between two body chunks, at most this long. */
  readonly timeoutMs: number;
  /** After this many consecutive failures the upstream is not asked for `breakerOpenMs`. */
  readonly breakerFailures: number;
  readonly breakerOpenMs: number;
  /** Cached manifests (and the blobs only they use) not pulled for this long are evicted by the online GC (eviction.ts). Default 7 days. */
  readonly evictAfterMs?: number;
  /** When the namespace holds more bytes than this, the GC evicts the least recently pulled content until it does not. Default: no cap. */
  readonly maxBytes?: number;
}

export const UPSTREAM_DEFAULTS = {
  tagTtlMs: 5 * 60_000,
  notFoundTtlMs: 60_000,
  staleMs: 7 * 86_400_000,
  timeoutMs: 30_000,
  breakerFailures: 5,
  breakerOpenMs: 30_000,
  evictAfterMs: 7 * 86_400_000,
} as const;

/** The mirror part of a resolved /v2 route: which upstream, and the repository's name there. */
export interface MirrorRoute {
  readonly upstream: string;
  /** The repository name at the upstream. */
  readonly remote: string;
  /** The `ns` value that selected the upstream (answered as OCI-Namespace). */
  readonly ns?: string;
}

/** Maps client repository names to local names and upstreams. Pure: no I/O. */
export class MirrorNamespaces {
  private readonly byNamespace = new Map<string, UpstreamSettings>();
  private readonly byHost = new Map<string, UpstreamSettings>();
  private readonly fallback: UpstreamSettings | undefined;

  constructor(readonly upstreams: readonly UpstreamSettings[]) {
    for (const u of upstreams) {
      if (this.byNamespace.has(u.namespace)) throw new Error(`two upstreams use namespace ${u.namespace}`);
      this.byNamespace.set(u.namespace, u);
      for (const h of u.hosts) {
        if (this.byHost.has(h)) throw new Error(`two upstreams claim host ${h}`);
        this.byHost.set(h, u);
      }
    }
    const defaults = upstreams.filter((u) => u.default === true);
    if (defaults.length > 1) throw new Error(`only one upstream can be the default (${defaults.map((u) => u.name).join(', ')})`);
    this.fallback = defaults[0];
  }

  get(upstream: string): UpstreamSettings {
    const u = this.upstreams.find((x) => x.name === upstream);
    if (!u) throw new Error(`no upstream named ${upstream}`);
    return u;
  }

  /** The namespace's upstream when `repository` lies in a mirrored namespace (stored content: pushes are refused there). */
  owner(repository: string): UpstreamSettings | undefined {
    return this.byNamespace.get(repository.split('/', 1)[0]!);
  }

  /**
   * The local name and mirror route of the client's repository `name` with
   * the request's `ns` (validated host, or undefined). An `ns` no upstream
   * lists is ignored (distribution-spec-next "Registry Proxying": a registry
   * MAY ignore it). Undefined: a local repository.
   */
  resolve(name: string, ns: string | undefined): { name: string; mirror: MirrorRoute } | undefined {
    const byNs = ns === undefined ? undefined : this.byHost.get(ns);
    if (byNs) return { name: `${byNs.namespace}/${name}`, mirror: { upstream: byNs.name, remote: name, ns: ns! } };
    const slash = name.indexOf('/');
    const prefixed = slash === -1 ? undefined : this.byNamespace.get(name.slice(0, slash));
    if (prefixed) return { name, mirror: { upstream: prefixed.name, remote: name.slice(slash + 1) } };
    if (this.byNamespace.has(name)) throw new RegistryError('NAME_INVALID', `${name} is a mirror namespace, not a repository: name one below it, e.g. ${name}/library/busybox`);
    const d = this.fallback;
    return d ? { name: `${d.namespace}/${name}`, mirror: { upstream: d.name, remote: name } } : undefined;
  }
}
