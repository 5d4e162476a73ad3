// `ferro-oci-server check`: a clean storage directory passes; each kind of corruption made with real files is reported.
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, unlink, utimes, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { checkStores } from '../../src/services/check.js';
import { MemoryBlobStore } from '../../src/storage/blob/memory.js';
import { MemoryMetadataStore } from '../../src/storage/meta/memory/index.js';
import { createServices } from '../../src/registry.js';
import { OciClient } from '../../support/oci-client.js';
import { startRegistry } from '../../support/registry.js';
import { blobFile, runCheck } from '../../support/durability.js';
import { digestOf } from '../../src/oci/digest.js';

const HOUR = 3600_000;

describe('integrity check', () => {
  let base: string;
  let work: string;
  let image: Awaited<ReturnType<OciClient['pushImage']>>;
  let index: { digest: string; bytes: Buffer };
  let caseNo = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ferro-check-'));
    base = join(work, 'base');
    const registry = await startRegistry('disk', { dir: base });
    try {
      const client = new OciClient(registry.url);
      image = await client.pushImage('lib/app', 'v1', { layers: 2, layerSize: 5000 });
      const other = await client.pushImage('lib/app', 'v2', { layers: 1 });
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [image, other].map((m) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.bytes.length })),
        }),
      );
      const res = await client.putManifest('lib/app', 'multi', bytes, 'application/vnd.oci.image.index.v1+json');
      assert.equal(res.status, 201, await res.text());
      index = { digest: digestOf(bytes), bytes };
      await client.pushImage('other', 'latest', { layers: 1 });
    } finally {
      await registry.stop();
    }
  });
  after(() => rm(work, { recursive: true, force: true }));

  /** A fresh copy of the base storage directory. */
  async function copy(): Promise<string> {
    const dir = join(work, `case-${++caseNo}`);
    await cp(base, dir, { recursive: true });
    return dir;
  }

  function sql(dir: string, statement: string, ...params: unknown[]): void {
    const db = new Database(join(dir, 'metadata.db'));
    try {
      db.pragma('foreign_keys = OFF');
      db.prepare(statement).run(...params);
    } finally {
      db.close();
    }
  }

  async function expectProblems(dir: string, patterns: RegExp[]): Promise<void> {
    const { code, output } = await runCheck(['--storage-dir', dir]);
    assert.equal(code, 1, output);
    for (const p of patterns) assert.match(output, p);
    assert.match(output, /\d+ problems? found/);
  }

  it('a clean storage directory passes with exit 0 and a summary', async () => {
    const { code, output } = await runCheck(['--storage-dir', base]);
    assert.equal(code, 0, output);
    assert.match(output, /checked 2 repositories, 4 manifests, 4 tags, 7 blob links, 7 blobs \(\d+ bytes\), 0 upload areas/);
    assert.match(output, /OK: no problems found/);
    const viaEnv = await runCheck([], { FERRO_OCI_STORAGE_DIR: base });
    assert.equal(viaEnv.code, 0, viaEnv.output);
  });

  it('a flipped byte in a blob file', async () => {
    const dir = await copy();
    const layer = image.layers[0]!.digest;
    const bytes = await readFile(blobFile(dir, layer));
    bytes[100] = bytes[100]! ^ 0xff;
    await writeFile(blobFile(dir, layer), bytes);
    await expectProblems(dir, [new RegExp(`problem blob-corrupt ${layer}: content hashes to sha256:`)]);
  });

  it('a deleted blob file', async () => {
    const dir = await copy();
    await unlink(blobFile(dir, image.configDigest));
    await expectProblems(dir, [
      new RegExp(`problem link-content-missing ${image.configDigest}: linked blob has no content in lib/app`),
      new RegExp(`problem reference-missing ${image.digest}: references blob ${image.configDigest}, which has no content in lib/app`),
    ]);
  });

  it("edited manifest bytes in SQLite, and a link's size", async () => {
    const dir = await copy();
    const edited = Buffer.from(image.bytes.toString().replace('"schemaVersion":2', '"schemaVersion":2 '));
    sql(dir, 'UPDATE manifests SET bytes = ? WHERE repository = ? AND digest = ?', edited, 'lib/app', image.digest);
    sql(dir, 'UPDATE blob_links SET size = size + 1 WHERE repository = ? AND digest = ?', 'lib/app', image.layers[1]!.digest);
    await expectProblems(dir, [
      new RegExp(`problem manifest-corrupt ${image.digest}: bytes hash to sha256:\\w+ \\(${edited.length} bytes, recorded ${image.bytes.length}\\)`),
      new RegExp(`problem link-size-mismatch ${image.layers[1]!.digest}: linked with ${image.layers[1]!.bytes.length + 1} bytes`),
    ]);
  });

  it('a dangling tag, a missing index child and an unparseable manifest', async () => {
    const dir = await copy();
    const ghost = digestOf(Buffer.from('ghost'));
    sql(dir, "INSERT INTO tags (repository, tag, digest, updated_at) VALUES ('other', 'ghost', ?, 1)", ghost);
    sql(dir, 'DELETE FROM manifests WHERE repository = ? AND digest = ?', 'lib/app', image.digest);
    const junk = Buffer.from('{"schemaVersion": 3}');
    sql(dir, "INSERT INTO manifests (repository, digest, media_type, bytes, size, created_at) VALUES ('other', ?, 'application/vnd.oci.image.manifest.v1+json', ?, ?, 1)", digestOf(junk), junk, junk.length);
    await expectProblems(dir, [
      new RegExp(`problem tag-dangling ghost: tag points at ${ghost}, which does not exist in other`),
      new RegExp(`problem reference-missing ${index.digest}: references manifest ${image.digest}, which is not in the repository`),
      new RegExp(`problem manifest-invalid ${digestOf(junk)}: does not parse`),
    ]);
  });

  it('old orphaned upload data and an expired session; fresh upload data is no problem', async () => {
    const dir = await copy();
    const uploads = join(dir, 'blobs', 'uploads');
    const old = new Date(Date.now() - 2 * HOUR);
    await writeFile(join(uploads, 'orphan-1'), 'half a blob');
    await utimes(join(uploads, 'orphan-1'), old, old);
    await writeFile(join(uploads, 'young-1'), 'being written');
    await writeFile(join(uploads, 'expired-1'), 'abandoned');
    await utimes(join(uploads, 'expired-1'), old, old);
    sql(dir, "INSERT INTO uploads (id, repository, \"offset\", created_at, updated_at) VALUES ('expired-1', 'lib/app', 9, ?, ?)", old.getTime(), old.getTime());
    const { code, output } = await runCheck(['--storage-dir', dir]);
    assert.equal(code, 1, output);
    assert.match(output, /problem upload-orphaned orphan-1: upload data \(11 bytes\) without a session/);
    assert.match(output, /problem upload-expired expired-1: upload session in lib\/app idle since/);
    assert.match(output, /3 upload areas/);
    assert.doesNotMatch(output, /young-1|problem upload-orphaned expired-1/);
    assert.match(output, /2 problems found/);
  });

  it('bad usage exits 2', async () => {
    assert.equal((await runCheck([])).code, 2);
    assert.equal((await runCheck(['--storage-dir', join(work, 'nowhere')])).code, 2);
    assert.equal((await runCheck(['--storage-dir', base, '--bogus'])).code, 2);
    assert.equal((await runCheck(['--storage-dir', base, 'extra'])).code, 2);
    const help = await runCheck(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.output, /Usage: ferro-oci-server check/);
  });

  it('checkStores passes on memory stores filled through the services', async () => {
    const blobStore = new MemoryBlobStore();
    const meta = new MemoryMetadataStore();
    const services = createServices({ blobStore, metadataStore: meta });
    const config = Buffer.from('{}');
    const body = async function* () {
      yield config;
    };
    await services.uploads.uploadWhole('m', digestOf(config), { body: body() });
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: 2 }, layers: [] }),
    );
    await services.manifests.put('m', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json');
    const report = await checkStores(blobStore, meta, { pageSize: 1 });
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.counts, { repositories: 1, manifests: 1, tags: 1, blobLinks: 1, blobs: 1, blobBytes: 2, uploads: 0 });
    await blobStore.delete(digestOf(config));
    assert.deepEqual(
      (await checkStores(blobStore, meta)).problems.map((p) => p.kind),
      ['link-content-missing', 'reference-missing'],
    );
  });
});
