import { describe, expect, it } from 'vitest';
import { ackError, ackOk, type Ack } from '../protocol/ack.ts';
import type { BlobChunk, BlobRead, LeaseGrant } from '../protocol/messages.ts';
import { BLOB_CHUNK_BYTES } from '../domain/limits.ts';
import { BlobCache, BlobFetchError, JobWork, type PersistentBlobs } from './job-work.ts';

// Shared code compiles without platform types; these tests run on Node, which has them.
declare function setTimeout(fn: (value?: unknown) => void, ms: number): unknown;
declare class TextEncoder {
  encode(text: string): Uint8Array;
}
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/** A hub that serves `blobs` chunk by chunk and counts what it served. */
function fakeHub(blobs: Record<string, Uint8Array>, refuse: (r: BlobRead) => Ack<never> | null = () => null) {
  const served: BlobRead[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const read = async (request: BlobRead): Promise<Ack<BlobChunk>> => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 1));
    inFlight--;
    const refused = refuse(request);
    if (refused) return refused;
    served.push(request);
    const blob = blobs[request.blob];
    if (!blob) return ackError('not_leased', 'no lease');
    const start = request.chunk * BLOB_CHUNK_BYTES;
    return ackOk({ size: blob.length, chunk: request.chunk, bytes: blob.slice(start, start + BLOB_CHUNK_BYTES) });
  };
  return { read, served, maxInFlight: () => maxInFlight };
}

const big = Uint8Array.from({ length: 2 * BLOB_CHUNK_BYTES + 123 }, (_, i) => i % 251);
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('BlobCache', () => {
  it('fetches a blob chunk by chunk, a few in flight, and reassembles it exactly', async () => {
    const hub = fakeHub({ [A]: big });
    const cache = new BlobCache({ read: hub.read, inFlight: 2 });
    const bytes = await cache.get(A, big.length);
    expect(same(bytes, big)).toBe(true);
    expect(hub.served.map((r) => r.chunk).sort()).toEqual([0, 1, 2]);
    expect(hub.maxInFlight()).toBe(2);
    expect(cache.fetchedBytes).toBe(big.length);
  });

  it('fetches each blob once, however many ask for it at the same time', async () => {
    const hub = fakeHub({ [A]: big });
    const cache = new BlobCache({ read: hub.read });
    const [one, two] = await Promise.all([cache.get(A, big.length), cache.get(A, big.length)]);
    await cache.get(A, big.length);
    expect(one).toBe(two);
    expect(hub.served).toHaveLength(3);
    expect(cache.fetchedFromHub).toBe(1);
  });

  it('asks the persistent store first and feeds it after a fetch', async () => {
    const kept = new Map<string, Uint8Array>();
    const persistent: PersistentBlobs = { get: async (hex) => kept.get(hex) ?? null, put: async (hex, bytes) => void kept.set(hex, bytes) };
    const hub = fakeHub({ [A]: big });
    await new BlobCache({ read: hub.read, persistent }).get(A, big.length);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(kept.get(A)?.length).toBe(big.length);
    // A new connection (a reloaded page): from the store, nothing from the hub.
    const again = new BlobCache({ read: hub.read, persistent });
    expect((await again.get(A, big.length)).length).toBe(big.length);
    expect(again.fetchedFromStore).toBe(1);
    expect(hub.served).toHaveLength(3);
  });

  it('retries a chunk the hub could not read, and fails at once when it refuses', async () => {
    let failures = 1;
    const flaky = fakeHub({ [A]: big }, () => (failures-- > 0 ? ackError('unavailable', 'disk busy') : null));
    expect((await new BlobCache({ read: flaky.read }).get(A, big.length)).length).toBe(big.length);
    const refusing = fakeHub({}, () => ackError('not_leased', 'this device holds no lease of a job that uses it'));
    const error = await new BlobCache({ read: refusing.read }).get(B, 10).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BlobFetchError);
    expect(error).toMatchObject({ code: 'not_leased' });
  });

  it('drops the least recently used blobs past its memory budget, and fetches them again when asked', async () => {
    const small = new Uint8Array(600);
    const hub = fakeHub({ [A]: small, [B]: small });
    const cache = new BlobCache({ read: hub.read, memoryBudgetBytes: 1000 });
    await cache.get(A, 600);
    await cache.get(B, 600);
    await cache.get(B, 600);
    await cache.get(A, 600);
    expect(cache.fetchedFromHub).toBe(3);
  });
});

describe('JobWork', () => {
  const grant = (extra: Partial<LeaseGrant>): LeaseGrant => ({ leaseId: 'l', jobId: 'j', code: '(x) => x', timeoutMs: 1000, items: [], ...extra });

  it('needs nothing fetched for inline code without shared files', async () => {
    const hub = fakeHub({});
    const work = await new JobWork(new BlobCache({ read: hub.read })).prepare(grant({}));
    expect(work).toEqual({ code: '(x) => x', bundle: null, shared: [] });
    expect(hub.served).toHaveLength(0);
  });

  it('builds a bundle and shared files into a WorkSource, once per job', async () => {
    const source = new TextEncoder().encode('module.exports = { default: (x) => x };');
    const json = new TextEncoder().encode('{"k": [1, 2]}');
    const hub = fakeHub({ [A]: source, [B]: json });
    const jobWork = new JobWork(new BlobCache({ read: hub.read }));
    const g = grant({ code: '', bundle: { blob: A, size: source.length }, shared: [{ name: 'cfg', blob: B, as: 'json', size: json.length }, { name: 'raw', blob: B, as: 'bytes', size: json.length }] });
    const [work, again] = await Promise.all([jobWork.prepare(g), jobWork.prepare(g)]);
    expect(work).toBe(again);
    expect(work.code).toBeNull();
    expect(work.bundle).toEqual({ source: 'module.exports = { default: (x) => x };', file: `edgeswarm-bundle-${A.slice(0, 12)}.js` });
    expect(work.shared).toEqual([
      { name: 'cfg', as: 'json', text: '{"k": [1, 2]}' },
      { name: 'raw', as: 'bytes', bytes: json },
    ]);
    expect(hub.served).toHaveLength(2);
  });

  it('keeps the work of the last few jobs only, building an older one again from the cache', async () => {
    const source = new TextEncoder().encode('module.exports = { default: (x) => x };');
    const hub = fakeHub({ [A]: source });
    const jobWork = new JobWork(new BlobCache({ read: hub.read }));
    const g = (jobId: string) => grant({ jobId, code: '', bundle: { blob: A, size: source.length } });
    const first = await jobWork.prepare(g('job-0'));
    for (let i = 1; i <= 8; i++) await jobWork.prepare(g(`job-${i}`));
    expect(await jobWork.prepare(g('job-8'))).toBe(await jobWork.prepare(g('job-8')));
    const again = await jobWork.prepare(g('job-0'));
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    expect(hub.served).toHaveLength(1);
  });
});
