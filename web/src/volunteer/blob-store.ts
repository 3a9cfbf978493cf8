// The page's own copies of job data (work modules, shared files) in its origin's IndexedDB, keyed by SHA-256, within a
// byte budget the volunteer sees and can clear; the least recently used go first. (Cache Storage would need a secure
// context, which plain-http LAN pages are not.) Job code never sees this store: it runs in an opaque-origin sandbox.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { PersistentBlobs } from '@edgeswarm/shared';

/** What the page keeps unless the volunteer chooses otherwise. */
export const DEFAULT_BLOB_BUDGET_BYTES = 512 * 1024 * 1024;
const DB_NAME = 'edgeswarm-blobs';

/** What is kept of each blob besides its bytes: read in full to stay within the budget, so the bytes are stored apart. */
interface BlobEntry {
  hex: string;
  size: number;
  usedAt: number;
}

interface BlobDb extends DBSchema {
  entries: { key: string; value: BlobEntry; indexes: { usedAt: number } };
  bytes: { key: string; value: ArrayBuffer };
}

export interface BlobStoreUsage {
  bytes: number;
  blobs: number;
  budget: number;
}

export class BrowserBlobStore implements PersistentBlobs {
  private db: Promise<IDBPDatabase<BlobDb>> | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly budget: number = DEFAULT_BLOB_BUDGET_BYTES,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get budgetBytes(): number {
    return this.budget;
  }

  /** Called after every change (put, clear), so a view can show the usage again. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async get(hex: string): Promise<Uint8Array | null> {
    const db = await this.open();
    const tx = db.transaction(['entries', 'bytes'], 'readwrite');
    const [entry, bytes] = await Promise.all([tx.objectStore('entries').get(hex), tx.objectStore('bytes').get(hex)]);
    if (!entry || !bytes || bytes.byteLength !== entry.size) {
      await tx.done;
      return null;
    }
    await tx.objectStore('entries').put({ ...entry, usedAt: this.now() });
    await tx.done;
    return new Uint8Array(bytes);
  }

  /** Keeps `bytes`, dropping the least recently used blobs to stay within the budget; a blob larger than the budget is not kept. */
  async put(hex: string, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.budget) return;
    // A copy, made now: the caller's buffer may be transferred elsewhere later.
    const copy = bytes.slice().buffer;
    const db = await this.open();
    const tx = db.transaction(['entries', 'bytes'], 'readwrite');
    const entries = tx.objectStore('entries');
    let used = 0;
    for (const entry of await entries.getAll()) if (entry.hex !== hex) used += entry.size;
    let cursor = await entries.index('usedAt').openCursor();
    while (cursor && used + bytes.length > this.budget) {
      if (cursor.value.hex !== hex) {
        used -= cursor.value.size;
        await tx.objectStore('bytes').delete(cursor.value.hex);
        await cursor.delete();
      }
      cursor = await cursor.continue();
    }
    await tx.objectStore('bytes').put(copy, hex);
    await entries.put({ hex, size: bytes.length, usedAt: this.now() });
    await tx.done;
    this.notify();
  }

  async usage(): Promise<BlobStoreUsage> {
    const db = await this.open();
    const entries = await db.getAll('entries');
    return { bytes: entries.reduce((sum, e) => sum + e.size, 0), blobs: entries.length, budget: this.budget };
  }

  async clear(): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(['entries', 'bytes'], 'readwrite');
    await Promise.all([tx.objectStore('entries').clear(), tx.objectStore('bytes').clear(), tx.done]);
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private open(): Promise<IDBPDatabase<BlobDb>> {
    if (typeof indexedDB === 'undefined') return Promise.reject(new Error('this browser has no IndexedDB'));
    this.db ??= openDB<BlobDb>(DB_NAME, 1, {
      upgrade(db) {
        db.createObjectStore('entries', { keyPath: 'hex' }).createIndex('usedAt', 'usedAt');
        db.createObjectStore('bytes');
      },
    }).catch((err: unknown) => {
      this.db = null;
      throw err;
    });
    return this.db;
  }
}
