/**
 * The one error table. Every failure the registry reports goes through a
 * RegistryError whose `kind` names a row here; the row binds the OCI error
 * code (distribution-spec "Error Codes", code-1 … code-14), the HTTP status and
 * a default message. The HTTP error handler is the only place that turns a
 * RegistryError into a response; nothing else maps errors to statuses.
 */

/** The OCI error codes (spec.md "Error Codes"), plus UNKNOWN for 5xx answers. */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'UNKNOWN';

interface ErrorRow {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly message: string;
  /** Seconds a client should wait before retrying (the Retry-After header), unless the error says otherwise. */
  readonly retryAfter?: number;
}

/** kind → { OCI code, HTTP status, default message, default Retry-After }. */
export const ERROR_TABLE = {
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400, message: 'blob upload invalid' },
  /** A chunk that does not start at the session's current offset (spec "Pushing a blob in chunks": MUST 416). */
  BLOB_UPLOAD_OUT_OF_ORDER: { code: 'BLOB_UPLOAD_INVALID', status: 416, message: 'chunk out of order' },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { code: 'DIGEST_INVALID', status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404, message: 'manifest unknown to registry' },
  /** Manifest over the configured size limit (spec "Pushing Manifests": SHOULD 413). */
  MANIFEST_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'manifest too large' },
  /** More `tag` query parameters on a manifest PUT than maxTagsPerPush (distribution-spec-next "Pushing Manifests": MAY 414). */
  TOO_MANY_TAGS: { code: 'UNSUPPORTED', status: 414, message: 'too many tags in one request' },
  NAME_INVALID: { code: 'NAME_INVALID', status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400, message: 'provided length did not match content length' },
  /** An upload that would exceed the per-session size limit. */
  BLOB_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'blob upload too large' },
  /** A blob Range header that cannot be satisfied (RFC 9110 §15.5.17). */
  RANGE_NOT_SATISFIABLE: { code: 'SIZE_INVALID', status: 416, message: 'requested range not satisfiable' },
  /** A query parameter such as n or last that is not of the spec's form. */
  PAGINATION_INVALID: { code: 'UNSUPPORTED', status: 400, message: 'invalid pagination parameter' },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401, message: 'authentication required' },
  DENIED: { code: 'DENIED', status: 403, message: 'requested access to the resource is denied' },
  /** Moving or deleting a tag an immutable-tag rule protects, or deleting the manifest it points at. */
  TAG_IMMUTABLE: { code: 'DENIED', status: 409, message: 'tag is immutable' },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 400, message: 'the operation is unsupported' },
  METHOD_NOT_ALLOWED: { code: 'UNSUPPORTED', status: 405, message: 'method not allowed on this endpoint' },
  ROUTE_UNKNOWN: { code: 'UNSUPPORTED', status: 404, message: 'no such endpoint' },
  TOOMANYREQUESTS: { code: 'TOOMANYREQUESTS', status: 429, message: 'too many requests' },
  /** The request's body was not received in time or the client went away. */
  REQUEST_TIMEOUT: { code: 'BLOB_UPLOAD_INVALID', status: 408, message: 'request body not received in time' },
  /** An HTTP request that does not parse (request line, headers, framing); answered by the HTTP server itself. */
  MALFORMED_REQUEST: { code: 'UNSUPPORTED', status: 400, message: 'malformed HTTP request' },
  /** Request headers not complete within the headers timeout. */
  HEADERS_TIMEOUT: { code: 'UNSUPPORTED', status: 408, message: 'request headers not received in time' },
  /** Request headers over the HTTP server's size limit. */
  HEADERS_TOO_LARGE: { code: 'UNSUPPORTED', status: 431, message: 'request headers too large' },
  /** The storage volume has no room left. */
  STORAGE_FULL: { code: 'UNKNOWN', status: 507, message: 'insufficient storage' },
  /** A backend (metadata or blob store) is down, overloaded or busy; RFC 9110 §15.6.4: MAY send Retry-After, we always do. */
  UNAVAILABLE: { code: 'UNKNOWN', status: 503, message: 'service unavailable', retryAfter: 5 },
  /** A push (or upload) into a mirrored namespace: its content comes from the upstream only (docs/mirror.md). */
  MIRROR_READ_ONLY: { code: 'UNSUPPORTED', status: 405, message: 'the repository is a read-only mirror of an upstream registry' },
  /** Content that is not cached while its upstream is down (refused, timeout, 5xx, refused credentials, circuit breaker open). */
  UPSTREAM_UNAVAILABLE: { code: 'UNKNOWN', status: 503, message: 'the upstream registry is unavailable', retryAfter: 30 },
  /** The upstream answered something the mirror cannot use (a manifest whose digest does not match, an unexpected status). */
  UPSTREAM_INVALID: { code: 'UNKNOWN', status: 502, message: 'the upstream registry sent an invalid answer' },
  INTERNAL: { code: 'UNKNOWN', status: 500, message: 'internal server error' },
} as const satisfies Record<string, ErrorRow>;

export type ErrorKind = keyof typeof ERROR_TABLE;

/**
 * A failure with an OCI meaning. `message` says what was wrong in this request;
 * `detail` is optional JSON for the client; `headers` are extra response
 * headers (e.g. the current `Range` of an upload on 416); `retryAfterSeconds`
 * overrides the row's Retry-After (the error handler renders the header).
 */
export class RegistryError extends Error {
  readonly kind: ErrorKind;
  readonly detail: unknown;
  readonly headers: Readonly<Record<string, string>>;
  readonly #retryAfter: number | undefined;

  constructor(
    kind: ErrorKind,
    message?: string,
    options: { detail?: unknown; headers?: Record<string, string>; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message ?? ERROR_TABLE[kind].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.kind = kind;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
    this.#retryAfter = options.retryAfterSeconds;
  }

  /** Seconds to wait before retrying (Retry-After), or undefined when the answer carries none. */
  get retryAfter(): number | undefined {
    const row: ErrorRow = ERROR_TABLE[this.kind];
    return this.#retryAfter ?? row.retryAfter;
  }

  get code(): OciErrorCode {
    return ERROR_TABLE[this.kind].code;
  }

  get status(): number {
    return ERROR_TABLE[this.kind].status;
  }

  /** The `{"errors":[…]}` envelope of the spec's "Error Codes" section. */
  toEnvelope(): { errors: Array<{ code: OciErrorCode; message: string; detail?: unknown }> } {
    const entry: { code: OciErrorCode; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}
