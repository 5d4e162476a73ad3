/** The events a committed change records (events.ts), built by every store alike. */
import { randomUUID } from 'node:crypto';
import type { EventContext, ManifestFacts, RegistryEvent, RegistryEventType } from './events.js';

function base(type: RegistryEventType, time: number, context: EventContext): Omit<RegistryEvent, 'repository'> {
  const { actor, requestId, address, reason } = context;
  return {
    id: randomUUID(),
    type,
    time,
    ...(actor === undefined ? {} : { actor }),
    ...(requestId === undefined ? {} : { requestId }),
    ...(address === undefined ? {} : { address }),
    ...(reason === undefined ? {} : { reason }),
  };
}

function manifestFields(m: ManifestFacts): Partial<RegistryEvent> {
  return { repository: m.repository, digest: m.digest, mediaType: m.mediaType, size: m.size, ...(m.artifactType === undefined ? {} : { artifactType: m.artifactType }) };
}

/**
 * The events of a committed putManifest: repository.created when it created
 * the repository, manifest.pushed with every tag set, then per tag
 * tag.created (no previous digest) or tag.moved (another previous digest).
 */
export function putManifestEvents(m: ManifestFacts, tags: ReadonlyMap<string, string | undefined>, repositoryCreated: boolean, time: number, context: EventContext): RegistryEvent[] {
  const out: RegistryEvent[] = [];
  if (repositoryCreated) out.push({ ...base('repository.created', time, context), repository: m.repository });
  out.push({ ...base('manifest.pushed', time, context), ...manifestFields(m), tags: [...tags.keys()] });
  for (const [tag, previous] of tags) {
    if (previous === m.digest) continue;
    if (previous === undefined) out.push({ ...base('tag.created', time, context), ...manifestFields(m), tag });
    else out.push({ ...base('tag.moved', time, context), ...manifestFields(m), tag, previousDigest: previous });
  }
  return out;
}

/** The event of a committed deleteManifest, with the tags the manifest had. */
export function deleteManifestEvents(m: ManifestFacts, tags: readonly string[], time: number, context: EventContext): RegistryEvent[] {
  return [{ ...base('manifest.deleted', time, context), ...manifestFields(m), tags: [...tags].sort() }];
}

/** The event of a committed deleteTag: `digest` is the manifest the tag pointed at. */
export function deleteTagEvents(repository: string, tag: string, digest: string, time: number, context: EventContext): RegistryEvent[] {
  return [{ ...base('tag.deleted', time, context), repository, digest, tag }];
}

/** The events of a committed linkBlob: repository.created when it created the repository; blob.mounted for a mount. */
export function linkBlobEvents(repository: string, blob: { readonly digest: string; readonly size: number }, repositoryCreated: boolean, time: number, context: EventContext): RegistryEvent[] {
  const out: RegistryEvent[] = [];
  if (repositoryCreated) out.push({ ...base('repository.created', time, context), repository });
  if (context.mountedFrom !== undefined) out.push({ ...base('blob.mounted', time, context), repository, digest: blob.digest, size: blob.size, from: context.mountedFrom });
  return out;
}

/** A collection.finished event carrying the collector's report. */
export function collectionEvent(report: Readonly<Record<string, unknown>>, time: number, context: EventContext = {}): RegistryEvent {
  return { ...base('collection.finished', time, context), report };
}
