// Proof-of-work search with an npm library (@noble/hashes): which nonces give a SHA-256 of "edgeswarm:NONCE" that
// starts with DIFFICULTY zero hex digits? Input k searches nonces [k * BLOCK, (k + 1) * BLOCK).
// Run: npx edgeswarm run examples/hash-search/work.ts --range 0:40   →  one line per block: the nonces found in it
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

export const BLOCK = 20_000;
export const DIFFICULTY = 4;
const PREFIX = '0'.repeat(DIFFICULTY);

export default function search(k: number): number[] {
  const found: number[] = [];
  for (let nonce = k * BLOCK; nonce < (k + 1) * BLOCK; nonce++) {
    if (bytesToHex(sha256(utf8ToBytes(`edgeswarm:${nonce}`))).startsWith(PREFIX)) found.push(nonce);
  }
  return found;
}
