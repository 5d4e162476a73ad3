/**
 * The running sha256 of an upload, in two kinds:
 *
 * - plain: node:crypto's, fastest (SHA-NI), but its state cannot leave the process;
 * - resumable: hash-wasm's, whose state is saved (`saveSha256`) with the upload
 *   session at each acknowledged chunk and restored (`restoreSha256`) by
 *   another process, which then continues without reading the upload back.
 *   About 5× slower than plain on a CPU with SHA-NI (docs/replicas.md).
 *
 * A resumable hash holds only its saved state (~120 bytes): one shared
 * hash-wasm instance does the work, loading the state, hashing a chunk and
 * saving it again in one synchronous step, so no WebAssembly memory is kept
 * per upload.
 *
 * Saved format (129 bytes): version (1), bytes hashed (u64 BE), hash-wasm's
 * own state (its first 4 bytes name its build, so another build refuses it),
 * a checksum of the upload id and all that (the first 4 bytes of their
 * sha256; node:zlib's crc32 is missing from early Node 20). A state that fails any check
 * (damaged, of another length, another upload or another build) is refused,
 * never used: the caller re-reads the bytes instead.
 */
import { createHash } from 'node:crypto';
import { createSHA256, type IHasher } from 'hash-wasm';
import type { ResumeOptions } from './types.js';

/** What the writers need of a running sha256; node:crypto's Hash is one. */
export interface RunningSha256 {
  update(data: Uint8Array): unknown;
  /** An independent copy (an append hashes into one, kept only if the append succeeds). */
  copy(): RunningSha256;
  /** The digest of the bytes so far, as lowercase hex. Ends this hash: digest a copy to go on. */
  digest(encoding: 'hex'): string;
}

const VERSION = 1;
const HEADER = 1 + 8;

let shared: Promise<IHasher> | undefined;
const hasher = (): Promise<IHasher> => (shared ??= createSHA256());

class ResumableSha256 implements RunningSha256 {
  constructor(
    private readonly wasm: IHasher,
    /** hash-wasm's saved state; never mutated (save() returns a new array). */
    private state: Uint8Array,
    private length: number,
  ) {}

  update(data: Uint8Array): this {
    this.wasm.load(this.state);
    this.wasm.update(data);
    this.state = this.wasm.save();
    this.length += data.byteLength;
    return this;
  }

  copy(): ResumableSha256 {
    return new ResumableSha256(this.wasm, this.state, this.length);
  }

  digest(_encoding: 'hex'): string {
    this.wasm.load(this.state);
    return this.wasm.digest('hex');
  }

  save(id: string): Uint8Array {
    const out = Buffer.allocUnsafe(HEADER + this.state.byteLength + 4);
    out[0] = VERSION;
    out.writeBigUInt64BE(BigInt(this.length), 1);
    out.set(this.state, HEADER);
    out.writeUInt32BE(checksum(id, out), out.byteLength - 4);
    return out;
  }
}

/** A new sha256: resumable (state can be saved) or plain (node:crypto). */
export async function newSha256(resumable: boolean): Promise<RunningSha256> {
  if (!resumable) return createHash('sha256');
  const wasm = await hasher();
  wasm.init();
  return new ResumableSha256(wasm, wasm.save(), 0);
}

/** Checksum of upload `id` and `saved` less its last 4 bytes (where the result goes). */
const checksum = (id: string, saved: Buffer): number =>
  createHash('sha256').update(id).update(saved.subarray(0, saved.byteLength - 4)).digest().readUInt32BE(0);

/** The state of `hash` (of upload `id`) to store with its session, or undefined for a plain hash. */
export function saveSha256(hash: RunningSha256, id: string): Uint8Array | undefined {
  return hash instanceof ResumableSha256 ? hash.save(id) : undefined;
}

/**
 * A resumable sha256 continuing from `saved` (a saveSha256 result), or
 * undefined when `saved` is not an intact state of upload `id` after exactly
 * `length` hashed bytes, from a compatible build.
 */
export async function restoreSha256(saved: Uint8Array, length: number, id: string): Promise<RunningSha256 | undefined> {
  const buf = Buffer.from(saved.buffer, saved.byteOffset, saved.byteLength);
  if (buf.byteLength <= HEADER + 4 || buf[0] !== VERSION) return undefined;
  if (buf.readUInt32BE(buf.byteLength - 4) !== checksum(id, buf)) return undefined;
  if (buf.readBigUInt64BE(1) !== BigInt(length)) return undefined;
  const wasm = await hasher();
  const state = Uint8Array.prototype.slice.call(buf, HEADER, buf.byteLength - 4);
  try {
    wasm.load(state); // throws for another build's state or another size
    wasm.digest(); // traps for one whose counters are out of range (load does not check them): else the upload's commit would (500)
  } catch {
    return undefined;
  }
  return new ResumableSha256(wasm, state, length);
}

/**
 * The hash a resumed writer of upload `id` starts from: restored from
 * options.hashState when it is valid for `offset` (restored: true), else a new one the caller
 * feeds the kept `offset` bytes (resumable when asked, or when a state was given).
 */
export async function resumedSha256(options: ResumeOptions, offset: number, id: string): Promise<{ hash: RunningSha256; restored: boolean }> {
  const restored = options.hashState === undefined ? undefined : await restoreSha256(options.hashState, offset, id);
  if (restored !== undefined) return { hash: restored, restored: true };
  return { hash: await newSha256(options.resumableHash === true || options.hashState !== undefined), restored: false };
}
