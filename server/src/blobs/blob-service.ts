/** Uploading blobs (bundles and shared files) to the store: streamed in chunks, hashed, checked against their name and the owner's quota. */
import { createHash } from 'node:crypto';
import { SHA256_HEX, limits } from '@edgeswarm/shared';
import { HubError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import { BlobQuotaError } from '../store/job-store.ts';
import type { JobStore } from '../store/async-store.ts';
import type { Principal } from '../auth/principal.ts';

/** A blob no live job refers to is kept this long after its owner last uploaded, asked about or used it. */
export const BLOB_UNUSED_KEEP_MS = 3_600_000;

export interface UploadOutcome {
  /**
   * True (201) when this token had no such blob before; false (200) when it had. Whether someone else had
   * stored the same bytes is not told: a submitter must not learn what others uploaded.
   */
  created: boolean;
  size: number;
}

const ownerOf = (principal: Principal): string | null => (principal.kind === 'submitter' ? principal.name : null);
const quotaOf = (principal: Principal): number | null => (principal.kind === 'submitter' ? principal.limits.maxBlobBytes : null);

/** Checks a blob's name from the URL: the 64 lowercase hex digits of its SHA-256. */
export function parseBlobName(name: string): string {
  if (!SHA256_HEX.test(name)) {
    throw new HubError('invalid_request', `the blob's name must be the 64 lowercase hex digits of its SHA-256, got "${name.slice(0, 80)}"`);
  }
  return name;
}

/** Cuts a stream of byte pieces into chunks of exactly `size` bytes (the last may be shorter). */
class Chunker {
  private parts: Uint8Array[] = [];
  private held = 0;

  constructor(private readonly size: number) {}

  /** Adds `piece`; returns the whole chunks now ready. */
  push(piece: Uint8Array): Uint8Array[] {
    const ready: Uint8Array[] = [];
    let rest = piece;
    while (this.held + rest.length >= this.size) {
      const take = this.size - this.held;
      this.parts.push(rest.subarray(0, take));
      ready.push(Buffer.concat(this.parts));
      this.parts = [];
      this.held = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      this.parts.push(rest);
      this.held += rest.length;
    }
    return ready;
  }

  /** What is left (the last, short chunk), or null. */
  flush(): Uint8Array | null {
    if (this.held === 0) return null;
    const last = Buffer.concat(this.parts);
    this.parts = [];
    this.held = 0;
    return last;
  }
}

export class BlobService {
  /** Bytes of uploads under way, by owner (`''` for the admin): counted in the quota before they finish. */
  private readonly uploading = new Map<string, number>();

  constructor(
    private readonly store: JobStore,
    private readonly clock: Clock,
  ) {}

  /** The size of a blob `principal` may use, or null (`HEAD /api/blobs/:sha256`). */
  size(hex: string, principal: Principal): Promise<number | null> {
    return this.store.blobSize(hex, ownerOf(principal), this.clock.now());
  }

  /**
   * Stores the bytes of `body` as blob `hex` for `principal` (`PUT /api/blobs/:sha256`). The bytes
   * are hashed as they arrive and written in chunks; bytes the hub already has are only hashed. A
   * body past MAX_BLOB_BYTES or the owner's quota is refused as soon as that is known.
   */
  async upload(hex: string, body: ReadableStream<Uint8Array> | null, declaredLength: number | null, principal: Principal): Promise<UploadOutcome> {
    const owner = ownerOf(principal);
    const quota = quotaOf(principal);
    const now = () => this.clock.now();
    if (declaredLength !== null && declaredLength > limits.MAX_BLOB_BYTES) throw tooLarge();
    // Bytes already stored (by anyone) are hashed but not stored again: the uploader shows it has them.
    const stored = (await this.store.blobStored(hex)) !== null;
    // The admin sees every blob; a submitter, its own.
    const hadIt = owner === null ? stored : (await this.store.blobSize(hex, owner, now())) !== null;
    const key = owner ?? '';
    /** Bytes of this upload counted in `uploading` so far. */
    let counted = 0;
    // The owner's claims (read once: they change only when an upload or a purge ends) plus its other uploads under
    // way, plus this one's `size` so far: within the quota.
    const claimed = quota === null || hadIt ? 0 : await this.store.claimedBlobBytes(owner);
    const overQuota = (size: number) => {
      if (quota === null || hadIt) return;
      const used = claimed + (this.uploading.get(key) ?? 0) - counted;
      if (used + size > quota) throw quotaError(new BlobQuotaError(quota, used, size));
    };
    if (declaredLength !== null) overQuota(declaredLength);
    const upload = stored ? null : await this.store.beginBlob(now());
    const hash = createHash('sha256');
    const chunker = new Chunker(limits.BLOB_CHUNK_BYTES);
    let size = 0;
    let index = 0;
    const count = (bytes: number) => {
      counted += bytes;
      this.uploading.set(key, (this.uploading.get(key) ?? 0) + bytes);
    };
    const reader = body?.getReader() ?? null;
    try {
      const write = async (chunk: Uint8Array) => {
        if (upload !== null) await this.store.appendBlobChunk(upload, index, chunk);
        index++;
      };
      while (reader) {
        const { done, value } = await reader.read();
        if (done) break;
        if (size + value.length > limits.MAX_BLOB_BYTES) throw tooLarge();
        overQuota(size + value.length);
        size += value.length;
        count(value.length);
        hash.update(value);
        for (const chunk of chunker.push(value)) await write(chunk);
      }
      const last = chunker.flush();
      if (last) await write(last);
      const actual = hash.digest('hex');
      if (actual !== hex) {
        throw new HubError('hash_mismatch', `the ${size} bytes sent hash to sha256:${actual}, not to the blob's name sha256:${hex}`);
      }
      if (upload === null) {
        const claim = await this.store.claimBlob(hex, owner, now(), quota);
        if (claim) return { created: !hadIt, size: claim.size };
        // Removed meanwhile (no job referred to it): nothing to do but ask for it again.
        throw new HubError('conflict', `blob sha256:${hex} was removed while it was being sent; send it again`);
      }
      const finished = await this.store.finishBlob(upload, hex, owner, now(), quota);
      return { created: !hadIt, size: finished.size };
    } catch (err) {
      if (upload !== null) await this.store.abortBlob(upload).catch(() => undefined);
      await reader?.cancel().catch(() => undefined);
      if (err instanceof BlobQuotaError) throw quotaError(err);
      throw err;
    } finally {
      const left = (this.uploading.get(key) ?? 0) - counted;
      if (left > 0) this.uploading.set(key, left);
      else this.uploading.delete(key);
    }
  }
}

const tooLarge = () => new HubError('payload_too_large', `a blob may be at most ${limits.MAX_BLOB_BYTES} bytes (64 MiB)`);
const quotaError = (err: BlobQuotaError) => new HubError('payload_too_large', err.message);
