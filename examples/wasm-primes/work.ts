// Counts the primes in one block of integers with a WebAssembly kernel (primes.wat, built to primes.wasm).
// Run: npx edgeswarm run examples/wasm-primes/work.ts --range 0:100 --reduce sum   →  664579 (primes below 10,000,000)
/// <reference types="@edgeswarm/client/work" />
import kernel from './primes.wasm';

/** Integers per input: input k counts the primes in [k * BLOCK, (k + 1) * BLOCK). */
export const BLOCK = 100_000;

// Instantiated once per worker, when the bundle is loaded; every run reuses it.
const { count } = new WebAssembly.Instance(kernel).exports as { count(lo: number, hi: number): number };

export default function primesInBlock(k: number): number {
  if (!Number.isInteger(k) || k < 0 || (k + 1) * BLOCK > 2 ** 31) throw new RangeError(`block ${k} is outside 0..${Math.floor(2 ** 31 / BLOCK) - 1}`);
  return count(k * BLOCK, (k + 1) * BLOCK);
}
