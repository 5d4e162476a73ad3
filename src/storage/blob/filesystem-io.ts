/**
 * File primitives of the filesystem BlobStore: errno codes, directory fsync,
 * batched positional writes, the upload size guard and streamed hashing of a
 * file's prefix.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { ConcurrentWriteError } from '../errors.js';
import { abortable } from './stream.js';

export const errno = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;

/** fsync of a directory, so a link/unlink in it is durable. Skipped where directories cannot be synced. */
export async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = errno(err);
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

/** Writes every buffer at `position` onwards, in order, with as few writev calls as the kernel allows. */
export async function writevAll(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest, position);
    position += bytesWritten;
    let i = 0;
    while (i < rest.length && bytesWritten >= rest[i]!.byteLength) bytesWritten -= rest[i++]!.byteLength;
    rest = rest.slice(i);
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}

/** Throws unless the open upload file holds exactly `size` bytes (guards against a second writer). */
export async function checkUploadSize(handle: FileHandle, id: string, size: number): Promise<void> {
  const actual = (await handle.stat()).size;
  if (actual !== size) throw new ConcurrentWriteError(id, ` (${actual} bytes, expected ${size})`);
}

/** Hashes the first `length` bytes of `file`, streamed. Throws when the file is shorter. */
export async function hashFile<H extends { update(data: Uint8Array): unknown }>(file: string, length: number, hash: H, signal: AbortSignal | undefined): Promise<H> {
  if (length === 0) return hash;
  let read = 0;
  for await (const chunk of abortable<Buffer>(createReadStream(file, { start: 0, end: length - 1 }), signal)) {
    hash.update(chunk);
    read += chunk.length;
  }
  if (read !== length) throw new Error(`${file} holds ${read} bytes, expected ${length}`);
  return hash;
}
