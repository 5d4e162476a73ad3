/** Configurable limits of a registry; defaults follow the original design. */
export interface RegistryLimits {
  /** Open upload sessions at most; one more POST gets 429 TOOMANYREQUESTS. */
  readonly maxUploadSessions: number;
  /** Open upload sessions per repository at most (beneath maxUploadSessions); one more POST there gets 429. */
  readonly maxUploadSessionsPerRepository: number;
  /**
   * Open upload sessions per user at most (the request's ociUser, set by an
   * access-control hook; anonymous uploads are not counted); one more POST gets 429.
   * Counted per process: each replica counts the sessions it opened.
   */
  readonly maxUploadSessionsPerUser: number;
  /** An upload session idle this long (ms) is removed with its bytes. */
  readonly uploadSessionTtlMs: number;
  /** Bytes one upload session may hold; more gets 413. Only counted: nothing is held in memory by it. */
  readonly maxBlobSize: number;
  /** Bytes one manifest may have; more gets 413. */
  readonly maxManifestSize: number;
  /** `tag` query parameters one manifest PUT may carry (distribution-spec-next: SHOULD accept at least 10); more gets 414. */
  readonly maxTagsPerPush: number;
  /** Entries of a tags/list or _catalog page whose request gives no `n` (at most maxPageSize; default: maxPageSize). */
  readonly defaultPageSize: number;
  /** Largest `n` honoured by tags/list and _catalog; larger pages are cut with a Link header. */
  readonly maxPageSize: number;
  /** Rows one filtered _catalog page may scan (see ListingService.catalog) before it ends early. */
  readonly maxCatalogScan: number;
  /** How long (ms) an upload waits for a collector's deletion mark on its digest to end before answering 503. */
  readonly reserveWaitMs: number;
}

export const DEFAULT_LIMITS: RegistryLimits = {
  maxUploadSessions: 1024,
  maxUploadSessionsPerRepository: 256,
  maxUploadSessionsPerUser: 256,
  uploadSessionTtlMs: 60 * 60 * 1000,
  maxBlobSize: 1024 ** 4,
  maxManifestSize: 4 * 1024 ** 2,
  maxTagsPerPush: 100,
  defaultPageSize: 10_000,
  maxPageSize: 10_000,
  maxCatalogScan: 100_000,
  reserveWaitMs: 30_000,
};

/** DEFAULT_LIMITS with `partial` over them; defaultPageSize follows maxPageSize when not given. Throws TypeError for a bad value. */
export function resolveLimits(partial: Partial<RegistryLimits> = {}): RegistryLimits {
  const maxPageSize = partial.maxPageSize ?? DEFAULT_LIMITS.maxPageSize;
  const limits = { ...DEFAULT_LIMITS, defaultPageSize: maxPageSize, ...partial };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`limit ${key} must be a positive integer, got ${value}`);
  }
  if (limits.defaultPageSize > limits.maxPageSize) throw new TypeError(`limit defaultPageSize (${limits.defaultPageSize}) must be at most maxPageSize (${limits.maxPageSize})`);
  return limits;
}
