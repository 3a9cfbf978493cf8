import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { limits, parseJobSpec } from '@edgeswarm/shared';
import { SqliteJobStore } from '../store/sqlite-job-store.ts';
import { BlobDelivery, MAX_PENDING_READS, MAX_UNREAD_BYTES } from './blob-delivery.ts';
import { sqliteStore } from '../store/async-store.ts';

let dir: string;
let store: SqliteJobStore;
const NOW = Date.UTC(2026, 0, 1);
const bytes = Uint8Array.from({ length: 2 * limits.BLOB_CHUNK_BYTES + 5 }, (_, i) => i % 256);
const hex = createHash('sha256').update(bytes).digest('hex');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-delivery-'));
  store = new SqliteJobStore(join(dir, 'edgeswarm.db'));
  const upload = store.beginBlob(NOW);
  for (let i = 0; i * limits.BLOB_CHUNK_BYTES < bytes.length; i++) {
    store.appendBlobChunk(upload, i, bytes.subarray(i * limits.BLOB_CHUNK_BYTES, (i + 1) * limits.BLOB_CHUNK_BYTES));
  }
  store.finishBlob(upload, hex, null, NOW, null);
  const spec = parseJobSpec({ code: '(x, ctx) => x', inputs: [1, 2], shared: { d: `sha256:${hex}` } });
  if (!spec.ok) throw new Error(spec.message);
  store.createJob(spec.value, NOW);
  store.leaseWork({ deviceId: 'dev-a', connId: 'conn-a', max: 1, deadline: NOW + 10_000, now: NOW });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A defer that runs nothing until told: one call of `step` is one turn of the event loop. */
function turns() {
  const waiting: (() => void)[] = [];
  return {
    defer: (fn: () => void) => void waiting.push(fn),
    /** Runs the next turn and lets what it started settle. */
    step: async () => {
      waiting.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    },
    pending: () => waiting.length,
  };
}

describe('BlobDelivery', () => {
  it('serves one chunk per turn of the event loop, in the order asked', async () => {
    const loop = turns();
    const served: number[] = [];
    const delivery = new BlobDelivery({ store: sqliteStore(store), defer: loop.defer, served: (n) => served.push(n) });
    const answers = [0, 1, 2].map((chunk) => delivery.read('conn-a', { blob: hex, chunk }));
    expect(delivery.waiting).toBe(3);
    await loop.step();
    expect(delivery.waiting).toBe(2);
    expect(served).toEqual([limits.BLOB_CHUNK_BYTES]);
    await loop.step();
    await loop.step();
    expect(loop.pending()).toBe(0);
    const outcomes = await Promise.all(answers);
    expect(outcomes.map((o) => (o.ok ? o.chunk.chunk : -1))).toEqual([0, 1, 2]);
    expect(served).toEqual([limits.BLOB_CHUNK_BYTES, limits.BLOB_CHUNK_BYTES, 5]);
  });

  it('reads a chunk from the store once while it stays in its cache', async () => {
    let reads = 0;
    const counting = new Proxy(store, {
      get(target, prop) {
        if (prop === 'readBlobChunk') return (h: string, i: number) => (reads++, target.readBlobChunk(h, i));
        return Reflect.get(target, prop, target) as unknown;
      },
    });
    const delivery = new BlobDelivery({ store: sqliteStore(counting), defer: (fn) => queueMicrotask(fn), cacheBytes: limits.BLOB_CHUNK_BYTES + 10 });
    for (let i = 0; i < 3; i++) expect((await delivery.read('conn-a', { blob: hex, chunk: 0 })).ok).toBe(true);
    expect(reads).toBe(1);
    // Another chunk pushes it out (the cache holds about one chunk here).
    await delivery.read('conn-a', { blob: hex, chunk: 1 });
    await delivery.read('conn-a', { blob: hex, chunk: 0 });
    expect(reads).toBe(3);
  });

  it('refuses a connection without a lease of a job that uses the blob, and a chunk past the end', async () => {
    const delivery = new BlobDelivery({ store: sqliteStore(store), defer: (fn) => queueMicrotask(fn) });
    expect(await delivery.read('conn-b', { blob: hex, chunk: 0 })).toMatchObject({ ok: false, code: 'not_leased' });
    expect(await delivery.read('conn-a', { blob: hex, chunk: 3 })).toMatchObject({ ok: false, code: 'no_such_chunk' });
    store.releaseConnectionLeases('conn-a', NOW);
    expect(await delivery.read('conn-a', { blob: hex, chunk: 0 })).toMatchObject({ ok: false, code: 'not_leased' });
  });

  it('refuses a connection more reads than it may have waiting, or any while it has not taken what was sent', async () => {
    const loop = turns();
    const delivery = new BlobDelivery({ store: sqliteStore(store), defer: loop.defer });
    const waiting = Array.from({ length: MAX_PENDING_READS }, () => delivery.read('conn-a', { blob: hex, chunk: 0 }));
    expect(await delivery.read('conn-a', { blob: hex, chunk: 0 })).toMatchObject({ ok: false, code: 'rate_limited' });
    while (loop.pending() > 0) await loop.step();
    expect((await Promise.all(waiting)).every((o) => o.ok)).toBe(true);
    // Answered: room again. But a connection whose transport still holds more than the limit unread gets nothing.
    const slow = delivery.read('conn-a', { blob: hex, chunk: 1 }, () => MAX_UNREAD_BYTES + 1);
    await loop.step();
    expect(await slow).toMatchObject({ ok: false, code: 'rate_limited' });
    const caughtUp = delivery.read('conn-a', { blob: hex, chunk: 1 }, () => 0);
    await loop.step();
    expect(await caughtUp).toMatchObject({ ok: true });
  });
});
