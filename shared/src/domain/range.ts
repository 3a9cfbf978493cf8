/** Inputs given as `{range: {start, end, step}}`: counted and indexed without materialising them. */

export interface InputRange {
  start: number;
  end: number;
  step: number;
}

/** Number of inputs in a range; `end` is exclusive. */
export function rangeLength(range: InputRange): number {
  if (range.end <= range.start) return 0;
  return Math.ceil((range.end - range.start) / range.step);
}

/** The input at position `index` of a range (no bounds check). */
export function rangeAt(range: InputRange, index: number): number {
  const offset = index * range.step;
  if (Number.isSafeInteger(offset)) return range.start + offset;
  // The input itself is a safe integer, but the offset from a very negative start may not be.
  return Number(BigInt(range.start) + BigInt(index) * BigInt(range.step));
}
