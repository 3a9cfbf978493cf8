/**
 * A device's copies of the blobs its jobs use (bundles and shared files), for the volunteer page and the
 * Node agent alike: each blob is fetched from the hub with `blob:read`, chunk by chunk with a few chunks
 * in flight (the device pulls, so the hub never sends faster than it reads), at most once per
 * connection, and kept while connected; a persistent store (the page's IndexedDB) is asked first and
 * fed after. `JobWork` turns a lease's job into the `WorkSource` its runners load, once per job.
 */
import type { Ack } from '../protocol/ack.ts';
import type { BlobChunk, BlobRead, LeaseGrant } from '../protocol/messages.ts';
import { BLOB_CHUNK_BYTES } from '../domain/limits.ts';
import { bundleFileName } from '../domain/blobs.ts';
import type { SharedInput, WorkSource } from '../runtime/work-source.ts';

// Both runtimes (browsers, Node) have these; shared code compiles without platform types.
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input: Uint8Array): string;
}

/** Asks the hub for one chunk (`blob:read` with an ack timeout). */
export type BlobChunkReader = (request: BlobRead) => Promise<Ack<BlobChunk>>;

/** Where a device keeps blobs beyond its connection (the page: IndexedDB). Failures are the store's own: the cache goes on without it. */
export interface PersistentBlobs {
  get(hex: string): Promise<Uint8Array | null>;
  put(hex: string, bytes: Uint8Array): Promise<void>;
}

/** A blob could not be fetched: the hub refused (`code`, e.g. `not_leased`) or did not answer. */
export class BlobFetchError extends Error {
  override readonly name = 'BlobFetchError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface BlobCacheOptions {
  read: BlobChunkReader;
  persistent?: PersistentBlobs | undefined;
  /** Chunk requests in flight per blob. @defaultValue 4 */
  inFlight?: number;
  /** Tries per chunk when the hub does not answer, cannot read its storage or asks to wait. @defaultValue 5 */
  attempts?: number;
  /** Blobs kept in memory beyond this many bytes are dropped, least recently used first (they are fetched again if needed). @defaultValue 1 GiB */
  memoryBudgetBytes?: number;
}

const RETRYABLE = new Set(['unavailable', 'timeout', 'internal', 'rate_limited']);
/** A refused read (`rate_limited`, `unavailable`) is asked again after this long times its attempt. */
const RETRY_DELAY_MS = 250;

declare function setTimeout(fn: () => void, ms: number): unknown;

export class BlobCache {
  private readonly blobs = new Map<string, Promise<Uint8Array>>();
  private readonly sizes = new Map<string, number>();
  private held = 0;
  /** Bytes received from the hub (not from the persistent store). */
  fetchedBytes = 0;
  /** Blobs read from the hub / from the persistent store. */
  fetchedFromHub = 0;
  fetchedFromStore = 0;

  constructor(private readonly options: BlobCacheOptions) {}

  /** The bytes of blob `hex` of `size` bytes: from memory, the persistent store, or the hub (each asked once at a time). */
  get(hex: string, size: number): Promise<Uint8Array> {
    const known = this.blobs.get(hex);
    if (known) {
      // Most recently used last.
      this.blobs.delete(hex);
      this.blobs.set(hex, known);
      return known;
    }
    const loading = this.load(hex, size);
    this.blobs.set(hex, loading);
    loading.then(
      (bytes) => {
        this.sizes.set(hex, bytes.length);
        this.held += bytes.length;
        this.evict(hex);
      },
      () => this.blobs.delete(hex),
    );
    return loading;
  }

  /** Forgets every blob kept in memory (the persistent store keeps its own). */
  clear(): void {
    this.blobs.clear();
    this.sizes.clear();
    this.held = 0;
  }

  private evict(keep: string): void {
    const budget = this.options.memoryBudgetBytes ?? 1024 ** 3;
    for (const hex of [...this.blobs.keys()]) {
      if (this.held <= budget) return;
      const size = this.sizes.get(hex);
      if (hex === keep || size === undefined) continue;
      this.blobs.delete(hex);
      this.sizes.delete(hex);
      this.held -= size;
    }
  }

  private async load(hex: string, size: number): Promise<Uint8Array> {
    const persistent = this.options.persistent;
    if (persistent) {
      const stored = await persistent.get(hex).catch(() => null);
      if (stored && stored.length === size) {
        this.fetchedFromStore++;
        return stored;
      }
    }
    const bytes = await this.fetch(hex, size);
    this.fetchedFromHub++;
    // Kept for later visits without waiting (the store copies the bytes when it is called).
    if (persistent) void persistent.put(hex, bytes).catch(() => undefined);
    return bytes;
  }

  /** Reads every chunk, `inFlight` at a time, into one buffer. */
  private async fetch(hex: string, size: number): Promise<Uint8Array> {
    const bytes = new Uint8Array(size);
    const chunks = Math.ceil(size / BLOB_CHUNK_BYTES);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks) {
        const chunk = next++;
        const data = await this.readChunk(hex, chunk);
        const expected = Math.min(BLOB_CHUNK_BYTES, size - chunk * BLOB_CHUNK_BYTES);
        if (data.length !== expected) {
          throw new BlobFetchError('bad_chunk', `chunk ${chunk} of blob sha256:${hex} has ${data.length} bytes, not ${expected}`);
        }
        bytes.set(data, chunk * BLOB_CHUNK_BYTES);
        this.fetchedBytes += data.length;
      }
    };
    const lanes = Math.max(1, Math.min(this.options.inFlight ?? 4, chunks));
    await Promise.all(Array.from({ length: lanes }, () => worker()));
    return bytes;
  }

  private async readChunk(hex: string, chunk: number): Promise<Uint8Array> {
    const attempts = this.options.attempts ?? 5;
    let last: BlobFetchError | null = null;
    for (let attempt = 0; attempt < attempts; attempt++) {
      let ack: Ack<BlobChunk>;
      try {
        ack = await this.options.read({ blob: hex, chunk });
      } catch (err) {
        last = new BlobFetchError('timeout', `the hub did not answer for chunk ${chunk} of blob sha256:${hex}: ${String((err as Error).message ?? err)}`);
        continue;
      }
      if (ack.ok) {
        const data = ack.data.bytes;
        return data instanceof Uint8Array ? data : new Uint8Array(data);
      }
      last = new BlobFetchError(ack.error.code, ack.error.message);
      if (!RETRYABLE.has(ack.error.code)) break;
      await new Promise<void>((resolve) => setTimeout(resolve, RETRY_DELAY_MS * (attempt + 1)));
    }
    throw last ?? new BlobFetchError('internal', `could not read chunk ${chunk} of blob sha256:${hex}`);
  }
}

/**
 * What a device does with a lease whose job data could not be had: `drop` its inputs (the hub no longer
 * lets it read them: the lease or the job ended), `reconnect` (the hub did not answer: reconnecting gives
 * the lease back for another device), or `fail` them as `work_error` runs (the data itself is unusable,
 * e.g. a bundle that is not UTF-8: every device would fail the same way, so the job fails after its attempts).
 */
export function afterPrepareFailure(err: unknown): 'drop' | 'reconnect' | 'fail' {
  const code = err instanceof BlobFetchError ? err.code : null;
  if (code === 'not_leased') return 'drop';
  if (code !== null && RETRYABLE.has(code)) return 'reconnect';
  return 'fail';
}

/** What a lease's job needs fetched before its inputs can run: nothing for inline code without shared files. */
export function needsBlobs(grant: LeaseGrant): boolean {
  return grant.bundle !== undefined || (grant.shared?.length ?? 0) > 0;
}

/** Jobs whose work is kept ready; a job that ends without being stopped (it completed) is dropped in time. */
const MAX_JOBS_KEPT = 8;

/** The `WorkSource` of each job a device runs, built once per job from its lease and the blob cache. */
export class JobWork {
  private readonly jobs = new Map<string, Promise<WorkSource>>();
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(readonly blobs: BlobCache) {}

  /** The job's work, ready to load into runners; rejects with a `BlobFetchError` when a blob cannot be had. */
  prepare(grant: LeaseGrant): Promise<WorkSource> {
    const known = this.jobs.get(grant.jobId);
    if (known) {
      this.jobs.delete(grant.jobId);
      this.jobs.set(grant.jobId, known);
      return known;
    }
    const work = this.build(grant);
    this.jobs.set(grant.jobId, work);
    // The least recently used job goes first: its blobs stay in the cache, within its budget.
    for (const jobId of this.jobs.keys()) {
      if (this.jobs.size <= MAX_JOBS_KEPT) break;
      this.jobs.delete(jobId);
    }
    work.catch(() => this.jobs.delete(grant.jobId));
    return work;
  }

  /** The job stopped: its work need not be kept (its blobs stay in the cache). */
  forget(jobId: string): void {
    this.jobs.delete(jobId);
  }

  clear(): void {
    this.jobs.clear();
  }

  private async build(grant: LeaseGrant): Promise<WorkSource> {
    if (!needsBlobs(grant)) return { code: grant.code, bundle: null, shared: [] };
    const bundle = grant.bundle
      ? { source: this.text(await this.blobs.get(grant.bundle.blob, grant.bundle.size), 'the bundle'), file: bundleFileName(grant.bundle.blob) }
      : null;
    const shared: SharedInput[] = [];
    for (const file of grant.shared ?? []) {
      const bytes = await this.blobs.get(file.blob, file.size);
      shared.push(file.as === 'json' ? { name: file.name, as: 'json', text: this.text(bytes, `shared file ${file.name}`) } : { name: file.name, as: 'bytes', bytes });
    }
    return { code: bundle ? null : grant.code, bundle, shared };
  }

  private text(bytes: Uint8Array, what: string): string {
    try {
      return this.decoder.decode(bytes);
    } catch {
      throw new BlobFetchError('not_utf8', `${what} is not UTF-8 text`);
    }
  }
}
