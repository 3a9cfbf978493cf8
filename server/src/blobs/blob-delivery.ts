/**
 * Handing blob chunks to devices (`blob:read`): only to a connection that holds a lease of a job using
 * the blob, one chunk per turn of the event loop (a queue served with `setImmediate`), so ten devices
 * pulling 64 MiB at once do not hold up heartbeats, results and other devices; chunks read lately are
 * kept in a small cache, since the devices of one job ask for the same chunks at about the same time.
 */
import type { BlobChunk, BlobRead } from '@edgeswarm/shared';
import type { JobStore } from '../store/async-store.ts';

/** A device's blob request: the chunk, or why it gets none (expected outcomes, answered as data). */
export type BlobReadOutcome =
  | { ok: true; chunk: BlobChunk }
  | { ok: false; code: 'not_leased' | 'no_such_chunk' | 'rate_limited'; message: string };

/** Requests one connection may have waiting; more are refused (`rate_limited`): an honest device keeps a few in flight. */
export const MAX_PENDING_READS = 16;
/** Bytes sent to a connection and not yet taken by it, past which it gets no more chunks until it catches up. */
export const MAX_UNREAD_BYTES = 8 * 1024 * 1024;

export interface BlobDeliveryOptions {
  store: JobStore;
  /** Bytes of a blob were handed to a device. */
  served?: (bytes: number) => void;
  /** Chunks kept for other devices asking for them soon. @defaultValue 32 MiB */
  cacheBytes?: number;
  /** Runs the next request in a later turn. @defaultValue setImmediate */
  defer?: (next: () => void) => void;
}

interface Pending {
  connId: string;
  request: BlobRead;
  unread: () => number;
  resolve: (outcome: BlobReadOutcome) => void;
  reject: (err: unknown) => void;
}

export class BlobDelivery {
  private readonly queue: Pending[] = [];
  private readonly pendingByConn = new Map<string, number>();
  private head = 0;
  private scheduled = false;
  /** Recently read chunks by `hex:index`, oldest first (a Map keeps insertion order). */
  private readonly cache = new Map<string, Uint8Array>();
  private cached = 0;
  private readonly cacheBytes: number;
  private readonly defer: (next: () => void) => void;

  constructor(private readonly options: BlobDeliveryOptions) {
    this.cacheBytes = options.cacheBytes ?? 32 * 1024 * 1024;
    this.defer = options.defer ?? ((next) => void setImmediate(next));
  }

  /** Requests waiting for their turn. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /**
   * One chunk for connection `connId`, in its turn; rejects only when the store fails. `unread` says how
   * many bytes already sent to the connection it has not taken yet (its transport's buffer): a device
   * that asks without reading gets `rate_limited`, so one device cannot fill the hub's memory.
   */
  read(connId: string, request: BlobRead, unread: () => number = () => 0): Promise<BlobReadOutcome> {
    const pending = this.pendingByConn.get(connId) ?? 0;
    if (pending >= MAX_PENDING_READS) {
      return Promise.resolve({ ok: false, code: 'rate_limited', message: `at most ${MAX_PENDING_READS} blob reads may wait at once; ask again when some are answered` });
    }
    this.pendingByConn.set(connId, pending + 1);
    return new Promise((resolve, reject) => {
      const done = () => {
        const left = (this.pendingByConn.get(connId) ?? 1) - 1;
        if (left > 0) this.pendingByConn.set(connId, left);
        else this.pendingByConn.delete(connId);
      };
      this.queue.push({
        connId,
        request,
        unread,
        resolve: (outcome) => {
          done();
          resolve(outcome);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      this.schedule();
    });
  }

  /** One request per turn, the next only once the one before is answered. */
  private schedule(): void {
    if (this.scheduled || this.waiting === 0) return;
    this.scheduled = true;
    this.defer(() => {
      void this.serveOne().finally(() => {
        this.scheduled = false;
        this.schedule();
      });
    });
  }

  private async serveOne(): Promise<void> {
    const pending = this.queue[this.head++];
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (!pending) return;
    try {
      if (pending.unread() > MAX_UNREAD_BYTES) {
        pending.resolve({ ok: false, code: 'rate_limited', message: 'this device has not taken the chunks already sent to it; ask again later' });
        return;
      }
      pending.resolve(await this.serve(pending.connId, pending.request));
    } catch (err) {
      pending.reject(err);
    }
  }

  private async serve(connId: string, { blob, chunk }: BlobRead): Promise<BlobReadOutcome> {
    // Checked at every chunk: a lease that ended (job cancelled, device caught lying) stops the download.
    const size = await this.options.store.leasedBlobSize(connId, blob);
    if (size === null) return { ok: false, code: 'not_leased', message: `this device holds no lease of a job that uses blob sha256:${blob}` };
    const key = `${blob}:${chunk}`;
    let bytes = this.cache.get(key) ?? null;
    if (bytes) {
      this.cache.delete(key);
      this.cache.set(key, bytes);
    } else {
      bytes = await this.options.store.readBlobChunk(blob, chunk);
      if (!bytes) return { ok: false, code: 'no_such_chunk', message: `blob sha256:${blob} (${size} bytes) has no chunk ${chunk}` };
      this.remember(key, bytes);
    }
    this.options.served?.(bytes.length);
    return { ok: true, chunk: { size, chunk, bytes } };
  }

  private remember(key: string, bytes: Uint8Array): void {
    if (bytes.length > this.cacheBytes) return;
    this.cache.set(key, bytes);
    this.cached += bytes.length;
    for (const [old, value] of this.cache) {
      if (this.cached <= this.cacheBytes) break;
      this.cache.delete(old);
      this.cached -= value.length;
    }
  }
}
