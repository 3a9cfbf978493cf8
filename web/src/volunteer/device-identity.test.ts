import { describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../common/safe-storage.ts';
import { DEVICE_ID_KEY, DEVICE_ID_PATTERN, generateDeviceId, loadDeviceId } from './device-identity.ts';

class MemoryStore implements KeyValueStore {
  readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
}

const throwingStore: KeyValueStore = {
  getItem() {
    throw new Error('SecurityError: storage is disabled');
  },
  setItem() {
    throw new Error('QuotaExceededError');
  },
  removeItem() {
    throw new Error('SecurityError');
  },
};

describe('device identity', () => {
  it('generates 22 characters the hub accepts, without crypto.randomUUID', () => {
    const id = generateDeviceId();
    expect(id).toHaveLength(22);
    expect(id).toMatch(DEVICE_ID_PATTERN);
    expect(generateDeviceId()).not.toBe(id);
  });

  it('maps every byte value into the allowed alphabet', () => {
    const id = generateDeviceId((bytes) => bytes.forEach((_, i) => (bytes[i] = 255 - i)));
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(generateDeviceId((bytes) => bytes.fill(0))).toBe('A'.repeat(22));
  });

  it('keeps the id in storage and returns it on the next visit', () => {
    const store = new MemoryStore();
    const first = loadDeviceId(store);
    expect(store.items.get(DEVICE_ID_KEY)).toBe(first);
    expect(loadDeviceId(store)).toBe(first);
  });

  it('replaces a stored value the hub would refuse', () => {
    const store = new MemoryStore();
    store.setItem(DEVICE_ID_KEY, 'bad id!');
    const id = loadDeviceId(store);
    expect(id).toMatch(DEVICE_ID_PATTERN);
    expect(store.items.get(DEVICE_ID_KEY)).toBe(id);
  });

  it('falls back to one in-memory id when storage throws', () => {
    const id = loadDeviceId(throwingStore);
    expect(id).toMatch(DEVICE_ID_PATTERN);
    expect(loadDeviceId(throwingStore)).toBe(id);
    expect(loadDeviceId(null)).toBe(id);
  });
});
