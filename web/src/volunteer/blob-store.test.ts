import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { BrowserBlobStore } from './blob-store.ts';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('BrowserBlobStore (IndexedDB)', () => {
  let clock = 0;
  let store: BrowserBlobStore;
  beforeEach(async () => {
    clock = 0;
    store = new BrowserBlobStore(1000, () => ++clock);
    await store.clear();
  });

  it('keeps blobs by hash and gives them back, and a new page (store) finds them', async () => {
    await store.put('a', bytes(300, 1));
    expect([...((await store.get('a')) ?? [])].slice(0, 3)).toEqual([1, 1, 1]);
    expect(await store.get('b')).toBeNull();
    const reloaded = new BrowserBlobStore(1000);
    expect((await reloaded.get('a'))?.length).toBe(300);
    expect(await store.usage()).toEqual({ bytes: 300, blobs: 1, budget: 1000 });
  });

  it('stays within its budget, dropping the least recently used first', async () => {
    await store.put('a', bytes(400, 1));
    await store.put('b', bytes(400, 2));
    await store.get('a'); // a is now more recent than b
    await store.put('c', bytes(400, 3));
    expect(await store.get('b')).toBeNull();
    expect((await store.get('a'))?.length).toBe(400);
    expect((await store.get('c'))?.length).toBe(400);
    expect((await store.usage()).bytes).toBe(800);
    // Larger than the whole budget: not kept, nothing dropped for it.
    await store.put('huge', bytes(1001, 4));
    expect(await store.get('huge')).toBeNull();
    expect((await store.usage()).blobs).toBe(2);
  });

  it('keeps its own copy, and clears on request, telling its listeners', async () => {
    const original = bytes(10, 5);
    await store.put('a', original);
    original.fill(0);
    expect((await store.get('a'))?.[0]).toBe(5);
    let changes = 0;
    store.subscribe(() => changes++);
    await store.clear();
    expect(changes).toBe(1);
    expect(await store.usage()).toEqual({ bytes: 0, blobs: 0, budget: 1000 });
  });
});
