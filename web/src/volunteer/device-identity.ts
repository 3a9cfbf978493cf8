// The volunteer device's id: random, kept in this browser profile's localStorage, in memory where storage is unavailable.
import { browserStorage, readItem, writeItem, type KeyValueStore } from '../common/safe-storage.ts';

export const DEVICE_ID_KEY = 'edgeswarm.deviceId';

/** What the hub accepts in the handshake (`deviceHelloSchema`). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const ID_LENGTH = 22; // 22 symbols of 6 bits: 132 random bits

type RandomSource = (bytes: Uint8Array) => void;

/**
 * A new id from `crypto.getRandomValues`, which, unlike `crypto.randomUUID`, exists outside
 * secure contexts too (the page is often opened over plain http on a LAN address).
 */
export function generateDeviceId(random: RandomSource = (b) => void crypto.getRandomValues(b)): string {
  const bytes = new Uint8Array(ID_LENGTH);
  random(bytes);
  let id = '';
  for (const byte of bytes) id += ALPHABET[byte & 63];
  return id;
}

let memoryId: string | null = null;

/** The stored id, or a new one (stored when possible, else kept for this page's lifetime). */
export function loadDeviceId(store: KeyValueStore | null = browserStorage()): string {
  const stored = readItem(store, DEVICE_ID_KEY);
  if (stored !== null && DEVICE_ID_PATTERN.test(stored)) return stored;
  memoryId ??= generateDeviceId();
  writeItem(store, DEVICE_ID_KEY, memoryId);
  return memoryId;
}
