/**
 * The BlobStore contract (src/storage/blob/types.ts) as node:test cases. Every
 * implementation runs it via blobStoreContract; each case gets a fresh store.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { digestFromHex, digestOf, type Digest } from '../../src/oci/digest.js';
import type { BlobStore, BlobWriter } from '../../src/storage/blob/types.js';
import { ConcurrentWriteError, DigestMismatchError, LengthMismatchError, SizeLimitError, WriterClosedError } from '../../src/storage/errors.js';
import { missingMethods, type Unlisted } from './port-methods.js';
import { hashStateContract } from './blob-store-hash-state.js';

/**
 * Checked by the build, never called: the port takes parsed digests only
 * (src/oci/digest.ts), so a store never receives an unparsed one and never
 * parses one again. Each line fails the build if it compiles.
 */
export function unparsedDigestsDoNotCompile(store: BlobStore, writer: BlobWriter): void {
  // @ts-expect-error a string is no Digest
  void store.stat('sha256:xyz');
  // @ts-expect-error a string is no Digest
  void store.read('../../etc/passwd');
  // @ts-expect-error a string is no Digest
  void writer.commit('not-a-digest');
}

export interface BlobStoreFixture {
  readonly store: BlobStore;
  /** Opens the same data again after `store.close()`; only for persistent stores. */
  readonly reopen?: () => Promise<BlobStore>;
  /** Closes the store and removes its data. */
  readonly cleanup: () => Promise<void>;
}

/** Yields `bytes` in chunks of `size` (fresh copies, as a network source would). */
export async function* chunksOf(bytes: Uint8Array | string, size = 64 * 1024): AsyncGenerator<Buffer> {
  const buf = Buffer.from(bytes);
  for (let i = 0; i < buf.length; i += size) yield Buffer.from(buf.subarray(i, i + size));
}

export async function readAll(stream: Readable | undefined): Promise<Buffer> {
  assert.ok(stream, 'expected a stream');
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(parts);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * Streams `totalBytes` of random data into a new upload and reads the committed
 * blob back, checking its digest, and reports the process RSS growth meanwhile
 * (MiB) and the time of each phase. The append gets an AbortSignal, as the HTTP
 * layer always passes one, so the abort path is measured too. The blob is
 * deleted afterwards.
 */
export async function streamLargeBlob(store: BlobStore, id: string, totalBytes: number): Promise<{ growthMiB: number; appendMs: number; commitMs: number; readMs: number }> {
  const chunk = 64 * 1024;
  const expected = createHash('sha256');
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  async function* generate(): AsyncGenerator<Buffer> {
    for (let sent = 0; sent < totalBytes; sent += chunk) {
      const part = randomBytes(chunk);
      expected.update(part);
      sample();
      yield part;
    }
  }
  const t0 = Date.now();
  const writer = await store.createUpload(id);
  assert.equal(await writer.append(generate(), { expectedLength: totalBytes, signal: new AbortController().signal }), totalBytes);
  const t1 = Date.now();
  const digest = digestFromHex('sha256', expected.digest('hex'));
  await writer.commit(digest);
  const t2 = Date.now();
  const actual = createHash('sha256');
  let size = 0;
  for await (const part of (await store.read(digest))!) {
    actual.update(part as Buffer);
    size += (part as Buffer).length;
    sample();
  }
  const t3 = Date.now();
  assert.equal(size, totalBytes);
  assert.equal(`sha256:${actual.digest('hex')}`, digest);
  assert.equal(await store.delete(digest), true);
  return { growthMiB: (peak - baseline) / (1024 * 1024), appendMs: t1 - t0, commitMs: t2 - t1, readMs: t3 - t2 };
}

/** Every method of the port; the type check below fails the build when the port gains one not listed here. */
const PORT_METHODS = ['stat', 'read', 'delete', 'list', 'createUpload', 'resumeUpload', 'deleteUpload', 'listUploads', 'redirectUrl', 'checkHealth', 'close'] as const;
const WRITER_METHODS = ['append', 'digest', 'commit', 'cancel', 'hashState'] as const;
const portListed: [Unlisted<BlobStore, (typeof PORT_METHODS)[number]>] extends [never] ? true : never = true;
const writerListed: [Unlisted<BlobWriter, (typeof WRITER_METHODS)[number]>] extends [never] ? true : never = true;
void portListed;
void writerListed;

export function blobStoreContract(name: string, open: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fx: BlobStoreFixture;
    let store: BlobStore;

    beforeEach(async () => {
      fx = await open();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    async function put(id: string, bytes: Uint8Array | string): Promise<Digest> {
      const writer = await store.createUpload(id);
      await writer.append(chunksOf(bytes, 1000));
      const digest = digestOf(Buffer.from(bytes));
      await writer.commit(digest);
      return digest;
    }

    async function uploadSize(id: string): Promise<number | undefined> {
      return (await collect(store.listUploads())).find((u) => u.id === id)?.size;
    }

    /** Everything observable about an upload, to show that a failed call changed nothing. */
    async function snapshot(writer: BlobWriter) {
      return {
        size: writer.size,
        sha256: await writer.digest('sha256'),
        sha512: await writer.digest('sha512'),
        listed: await uploadSize(writer.id),
      };
    }

    it('implements every method of the port (a missing one is a failure, not a skip)', async () => {
      const missing = missingMethods(store, PORT_METHODS);
      assert.deepEqual(missing, [], `store lacks ${missing.join(', ')}`);
      const writer = await store.createUpload('methods');
      const missingW = missingMethods(writer, WRITER_METHODS);
      assert.deepEqual(missingW, [], `writer lacks ${missingW.join(', ')}`);
      await writer.cancel();
    });

    it('redirectUrl answers undefined or a URL that serves the committed blob', async () => {
      const bytes = randomBytes(3000);
      const digest = await put('redirect', bytes);
      const url = await store.redirectUrl(digest);
      if (url === undefined) return; // the store cannot redirect: callers stream the blob through read()
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
    });

    it('commits a blob that stat and read return exactly, whole and by range', async () => {
      const bytes = randomBytes(100_000);
      const digest = digestOf(bytes);
      const writer = await store.createUpload('u1');
      assert.equal(writer.id, 'u1');
      assert.equal(writer.size, 0);
      assert.equal(await writer.append(chunksOf(bytes, 7000)), bytes.length);
      assert.equal(writer.size, bytes.length);
      assert.equal(await writer.digest('sha256'), digest);
      assert.equal(await store.stat(digest), undefined, 'not visible before commit');
      assert.equal(await store.read(digest), undefined);
      assert.deepEqual(await collect(store.list()), []);

      assert.deepEqual(await writer.commit(digest), { size: bytes.length });
      assert.deepEqual(await store.stat(digest), { size: bytes.length });
      assert.ok((await readAll(await store.read(digest))).equals(bytes));
      for (const [start, end] of [[0, 0], [1, 99_998], [12_345, 82_345], [99_999, 99_999]] as const) {
        const part = await readAll(await store.read(digest, { start, end }));
        assert.ok(part.equals(bytes.subarray(start, end + 1)), `range ${start}-${end}`);
      }
      assert.equal(await uploadSize('u1'), undefined, 'upload data removed');
      await assert.rejects(writer.append(chunksOf('x')), WriterClosedError);
      await assert.rejects(writer.commit(digest), WriterClosedError);
      await writer.cancel();
      assert.deepEqual(await store.stat(digest), { size: bytes.length }, 'cancel after commit keeps the blob');
    });

    it('stores the empty blob', async () => {
      const digest = await put('empty', '');
      assert.deepEqual(await store.stat(digest), { size: 0 });
      assert.equal((await readAll(await store.read(digest))).length, 0);
    });

    it('returns undefined / false for absent digests', async () => {
      for (const digest of [digestOf(Buffer.from('absent')), digestOf(Buffer.from('absent'), 'sha512')]) {
        assert.equal(await store.stat(digest), undefined, digest);
        assert.equal(await store.read(digest), undefined, digest);
        assert.equal(await store.delete(digest), false, digest);
      }
    });

    it('deduplicates: committing the same content twice keeps one blob', async () => {
      const first = await put('a', 'same content');
      const second = await put('b', 'same content');
      assert.equal(first, second);
      assert.deepEqual(await collect(store.list()), [first]);
      assert.deepEqual(await collect(store.listUploads()), []);
      assert.equal((await readAll(await store.read(first))).toString(), 'same content');
    });

    it('concurrent commits of the same digest from many writers all succeed', async () => {
      const bytes = randomBytes(200_000);
      const digest = digestOf(bytes);
      const writers = await Promise.all(Array.from({ length: 8 }, (_, i) => store.createUpload(`w${i}`)));
      await Promise.all(writers.map((w) => w.append(chunksOf(bytes, 30_000))));
      const infos = await Promise.all(writers.map((w) => w.commit(digest)));
      for (const info of infos) assert.deepEqual(info, { size: bytes.length });
      assert.deepEqual(await collect(store.list()), [digest]);
      assert.deepEqual(await collect(store.listUploads()), []);
      assert.ok((await readAll(await store.read(digest))).equals(bytes));
    });

    it('digest mismatch stores nothing and leaves the upload appendable and committable', async () => {
      const writer = await store.createUpload('mm');
      await writer.append(chunksOf('hello '));
      const wrong = digestOf(Buffer.from('something else'));
      await assert.rejects(writer.commit(wrong), (err: unknown) => {
        assert.ok(err instanceof DigestMismatchError);
        assert.equal(err.expected, wrong);
        assert.equal(err.actual, digestOf(Buffer.from('hello ')));
        return true;
      });
      await assert.rejects(writer.commit(digestOf(Buffer.from('something else'), 'sha512')), DigestMismatchError);
      assert.equal(await store.stat(wrong), undefined);
      assert.equal(await store.stat(digestOf(Buffer.from('hello '))), undefined);
      assert.deepEqual(await collect(store.list()), []);
      assert.equal(writer.size, 6);
      assert.equal(await uploadSize('mm'), 6);

      await writer.append(chunksOf('world'));
      const digest = digestOf(Buffer.from('hello world'));
      assert.deepEqual(await writer.commit(digest), { size: 11 });
      assert.equal((await readAll(await store.read(digest))).toString(), 'hello world');
    });

    it('commits and serves a blob addressed by sha512', async () => {
      const bytes = randomBytes(50_000);
      const digest = digestOf(bytes, 'sha512');
      const writer = await store.createUpload('s512');
      await writer.append(chunksOf(bytes, 4096));
      assert.equal(await writer.digest('sha512'), digest);
      assert.deepEqual(await writer.commit(digest), { size: bytes.length });
      assert.deepEqual(await store.stat(digest), { size: bytes.length });
      assert.ok((await readAll(await store.read(digest, { start: 10, end: 40_000 }))).equals(bytes.subarray(10, 40_001)));
      assert.equal(await store.stat(digestOf(bytes)), undefined, 'stored under its sha512 address only');
      assert.deepEqual(await collect(store.list()), [digest]);
    });

    it('append is atomic: a failing source, a length mismatch or the size limit change nothing', async () => {
      const writer = await store.createUpload('atomic');
      await writer.append(chunksOf('abc'));
      const before = await snapshot(writer);

      async function* failing(): AsyncGenerator<Buffer> {
        yield Buffer.from('defg');
        yield Buffer.from('hij');
        throw new Error('source broke');
      }
      await assert.rejects(writer.append(failing()), /source broke/);
      assert.deepEqual(await snapshot(writer), before);

      await assert.rejects(writer.append(chunksOf('xy'), { expectedLength: 3 }), LengthMismatchError);
      assert.deepEqual(await snapshot(writer), before);
      await assert.rejects(writer.append(chunksOf('wxyz', 1), { expectedLength: 2 }), LengthMismatchError);
      assert.deepEqual(await snapshot(writer), before);
      await assert.rejects(writer.append(chunksOf('0123456789', 2), { maxTotalSize: 8 }), SizeLimitError);
      assert.deepEqual(await snapshot(writer), before);
      await assert.rejects(writer.append(chunksOf('0123456789'), { maxTotalSize: 8, expectedLength: 10 }), SizeLimitError);
      assert.deepEqual(await snapshot(writer), before);

      assert.equal(await writer.append(chunksOf('12345'), { maxTotalSize: 8, expectedLength: 5 }), 5);
      assert.equal(writer.size, 8);
      const digest = digestOf(Buffer.from('abc12345'));
      await writer.commit(digest);
      assert.equal((await readAll(await store.read(digest))).toString(), 'abc12345');
    });

    it('aborts via AbortSignal with the signal reason, changing nothing', async () => {
      const writer = await store.createUpload('abort');
      await writer.append(chunksOf('kept'));
      const before = await snapshot(writer);

      const reason = new Error('client went away');
      const aborted = AbortSignal.abort(reason);
      const isReason = (err: unknown): boolean => err === reason;
      await assert.rejects(writer.append(chunksOf('more'), { signal: aborted }), isReason);
      await assert.rejects(writer.commit(digestOf(Buffer.from('kept')), aborted), isReason);
      await assert.rejects(store.stat(digestOf(Buffer.from('kept')), aborted), isReason);
      await assert.rejects(store.createUpload('never', aborted), isReason);
      assert.deepEqual(await snapshot(writer), before);
      assert.equal(await uploadSize('never'), undefined);
      assert.equal(await store.stat(digestOf(Buffer.from('kept'))), undefined);

      // A source that delivers some bytes and then stalls, as a hung client would.
      const controller = new AbortController();
      const source = new Readable({ read() {} });
      source.push(Buffer.from('partial data'));
      const pending = writer.append(source, { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 50);
      await assert.rejects(pending, isReason);
      assert.deepEqual(await snapshot(writer), before);

      await writer.commit(digestOf(Buffer.from('kept')));
      assert.deepEqual(await store.stat(digestOf(Buffer.from('kept'))), { size: 4 });
    });

    it('resumes after truncating bytes past the acknowledged offset', async () => {
      const writer = await store.createUpload('res');
      await writer.append(chunksOf('acknowledged'));
      await writer.append(chunksOf('junk'));
      assert.equal(await store.resumeUpload('res', 17), undefined, 'offset past the data');
      assert.equal(await uploadSize('res'), 16, 'a refused resume truncates nothing');

      const resumed = await store.resumeUpload('res', 12);
      assert.ok(resumed);
      assert.equal(resumed.id, 'res');
      assert.equal(resumed.size, 12);
      assert.equal(await resumed.digest('sha256'), digestOf(Buffer.from('acknowledged')));
      assert.equal(await resumed.digest('sha512'), digestOf(Buffer.from('acknowledged'), 'sha512'));
      assert.equal(await uploadSize('res'), 12);
      await resumed.append(chunksOf(' more'));
      const digest = digestOf(Buffer.from('acknowledged more'));
      await resumed.commit(digest);
      assert.equal((await readAll(await store.read(digest))).toString(), 'acknowledged more');

      const other = await store.createUpload('res0');
      await other.append(chunksOf('abc'));
      const same = await store.resumeUpload('res0', 3);
      assert.equal(same?.size, 3);
      const zero = await store.resumeUpload('res0', 0);
      assert.equal(zero?.size, 0);
      assert.equal(await zero?.digest('sha256'), digestOf(Buffer.from('')));
    });

    it('a writer overtaken by another writer of the same upload refuses to append with ConcurrentWriteError', async () => {
      const first = await store.createUpload('overtaken');
      await first.append(chunksOf('abc'));
      const second = (await store.resumeUpload('overtaken', 3))!;
      await second.append(chunksOf('def'));
      await assert.rejects(first.append(chunksOf('stale')), ConcurrentWriteError);
      await second.append(chunksOf('ghi'));
      assert.equal(second.size, 9);
      await second.commit(digestOf(Buffer.from('abcdefghi')));
      assert.deepEqual(await readAll(await store.read(digestOf(Buffer.from('abcdefghi')))), Buffer.from('abcdefghi'));
    });

    it('resume of a missing upload resolves undefined', async () => {
      assert.equal(await store.resumeUpload('missing', 0), undefined);
      assert.equal(await store.resumeUpload('missing', 10), undefined);
    });

    it('createUpload rejects an id that exists', async () => {
      await store.createUpload('dup');
      await assert.rejects(store.createUpload('dup'));
    });

    it('cancel is idempotent and removes the data', async () => {
      const writer = await store.createUpload('c');
      await writer.append(chunksOf('to be discarded'));
      await writer.cancel();
      await writer.cancel();
      assert.equal(await uploadSize('c'), undefined);
      assert.equal(await store.resumeUpload('c', 0), undefined);
      await assert.rejects(writer.append(chunksOf('x')), WriterClosedError);
      await assert.rejects(writer.commit(digestOf(Buffer.from('to be discarded'))), WriterClosedError);
      assert.deepEqual(await collect(store.list()), []);
      const again = await store.createUpload('c');
      assert.equal(again.size, 0, 'the id is free again');
    });

    it('deleteUpload is idempotent', async () => {
      const writer = await store.createUpload('d');
      await writer.append(chunksOf('data'));
      await store.deleteUpload('d');
      await store.deleteUpload('d');
      await store.deleteUpload('never-existed');
      assert.equal(await uploadSize('d'), undefined);
      assert.equal(await store.resumeUpload('d', 0), undefined);
    });

    it('delete is idempotent', async () => {
      const digest = await put('x', 'to delete');
      const keep = await put('y', 'to keep');
      assert.equal(await store.delete(digest), true);
      assert.equal(await store.delete(digest), false);
      assert.equal(await store.stat(digest), undefined);
      assert.equal(await store.read(digest), undefined);
      assert.deepEqual(await collect(store.list()), [keep]);
    });

    it('lists every committed digest and every upload with size and mtime', async () => {
      const t0 = Date.now();
      const digests = [await put('l1', 'one'), await put('l2', 'two'), await put('l3', 'three')];
      const w = await store.createUpload('l4');
      await w.append(chunksOf('three'));
      await w.commit(digestOf(Buffer.from('three'), 'sha512'));
      digests.push(digestOf(Buffer.from('three'), 'sha512'));
      await (await store.createUpload('open1')).append(chunksOf('12345'));
      await store.createUpload('open2');
      assert.deepEqual((await collect(store.list())).sort(), digests.sort());
      const uploads = (await collect(store.listUploads())).sort((a, b) => a.id.localeCompare(b.id));
      assert.deepEqual(uploads.map((u) => [u.id, u.size]), [['open1', 5], ['open2', 0]]);
      for (const u of uploads) assert.ok(u.modifiedAt >= t0 - 2000 && u.modifiedAt <= Date.now() + 2000, `mtime ${u.modifiedAt}`);
    });

    it('streams a multi-MiB blob written in many chunks', async () => {
      const bytes = randomBytes(8 * 1024 * 1024 + 123);
      const digest = digestOf(bytes);
      const writer = await store.createUpload('big');
      const half = 4 * 1024 * 1024;
      assert.equal(await writer.append(chunksOf(bytes.subarray(0, half), 65_537)), half);
      assert.equal(await writer.append(chunksOf(bytes.subarray(half), 16_384), { expectedLength: bytes.length - half }), bytes.length - half);
      assert.equal(await writer.digest('sha256'), digest);
      await writer.commit(digest);
      assert.deepEqual(await store.stat(digest), { size: bytes.length });
      const out = await readAll(await store.read(digest));
      assert.ok(out.equals(bytes));
      const range = { start: 65_526, end: 3 * 65_536 + 5 };
      assert.ok((await readAll(await store.read(digest, range))).equals(bytes.subarray(range.start, range.end + 1)));
    });

    it('reports health and closes idempotently', async () => {
      await store.checkHealth();
      await store.close();
      await store.close();
    });

    hashStateContract(() => store, () => fx);

    it('keeps uploads and committed blobs across close and reopen', async (t) => {
      if (fx.reopen === undefined) {
        t.skip('store is not persistent');
        return;
      }
      const digest = await put('p1', 'committed before restart');
      const writer = await store.createUpload('persist');
      await writer.append(chunksOf('part one'));
      await store.close();

      const reopened = await fx.reopen();
      try {
        assert.deepEqual(await reopened.stat(digest), { size: 24 });
        assert.equal((await readAll(await reopened.read(digest))).toString(), 'committed before restart');
        assert.deepEqual(await collect(reopened.list()), [digest]);
        assert.deepEqual((await collect(reopened.listUploads())).map((u) => [u.id, u.size]), [['persist', 8]]);
        const resumed = await reopened.resumeUpload('persist', 8);
        assert.ok(resumed);
        assert.equal(await resumed.digest('sha256'), digestOf(Buffer.from('part one')));
        await resumed.append(chunksOf(', part two'));
        const full = digestOf(Buffer.from('part one, part two'));
        await resumed.commit(full);
        assert.equal((await readAll(await reopened.read(full))).toString(), 'part one, part two');
      } finally {
        await reopened.close();
      }
    });
  });
}
