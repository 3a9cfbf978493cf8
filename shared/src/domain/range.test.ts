import { describe, expect, it } from 'vitest';
import { rangeAt, rangeLength, type InputRange } from './range.ts';

const MAX = Number.MAX_SAFE_INTEGER;

/** Counts a range by walking it: the reference for small ranges. */
function walk(range: InputRange): number[] {
  const values: number[] = [];
  for (let v = range.start; v < range.end; v += range.step) values.push(v);
  return values;
}

describe('rangeLength', () => {
  it.each<[InputRange, number]>([
    [{ start: 0, end: 10, step: 1 }, 10],
    [{ start: 0, end: 1, step: 1 }, 1],
    [{ start: 0, end: 10, step: 2 }, 5],
    [{ start: 0, end: 10, step: 3 }, 4],
    [{ start: 0, end: 10, step: 4 }, 3],
    [{ start: 0, end: 10, step: 9 }, 2],
    [{ start: 0, end: 10, step: 10 }, 1],
    [{ start: 0, end: 10, step: 11 }, 1],
    [{ start: 0, end: 10, step: 1000 }, 1],
    [{ start: -7, end: 8, step: 5 }, 3],
    [{ start: -20, end: -3, step: 4 }, 5],
  ])('counts %j as %i inputs', (range, n) => {
    expect(rangeLength(range)).toBe(n);
    expect(walk(range)).toHaveLength(n);
  });

  it.each<[InputRange]>([[{ start: 5, end: 5, step: 1 }], [{ start: 5, end: 4, step: 1 }], [{ start: 0, end: -10, step: 3 }]])(
    'counts an empty or reversed range %j as 0',
    (range) => {
      expect(rangeLength(range)).toBe(0);
    },
  );

  it('agrees with walking the range for every start, end and step in a small grid', () => {
    const mismatches: string[] = [];
    for (let start = -6; start <= 6; start++) {
      for (let end = start + 1; end <= 12; end++) {
        for (let step = 1; step <= 8; step++) {
          const range = { start, end, step };
          if (rangeLength(range) !== walk(range).length) mismatches.push(JSON.stringify(range));
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('counts the whole span of safe integers', () => {
    expect(rangeLength({ start: -MAX, end: MAX, step: MAX })).toBe(2);
    expect(rangeLength({ start: MAX - 10, end: MAX, step: 1 })).toBe(10);
    expect(rangeLength({ start: MAX - 10, end: MAX, step: 3 })).toBe(4);
  });

  it('counts a range of ten million without materialising it', () => {
    expect(rangeLength({ start: 1e15, end: 1e15 + 30_000_000, step: 3 })).toBe(10_000_000);
    expect(rangeLength({ start: 1e15, end: 1e15 + 30_000_001, step: 3 })).toBe(10_000_001);
  });
});

describe('rangeAt', () => {
  it('gives the same values as walking the range, in order', () => {
    for (const range of [
      { start: 0, end: 10, step: 3 },
      { start: -7, end: 8, step: 5 },
      { start: 100, end: 101, step: 1 },
    ]) {
      const n = rangeLength(range);
      expect(Array.from({ length: n }, (_, i) => rangeAt(range, i))).toEqual(walk(range));
    }
  });

  it('puts the last input of a range whose step does not divide it before end', () => {
    const range = { start: 0, end: 10, step: 4 };
    const last = rangeAt(range, rangeLength(range) - 1);
    expect(last).toBe(8);
    expect(last).toBeLessThan(range.end);
    expect(last + range.step).toBeGreaterThanOrEqual(range.end);
  });

  it('indexes exactly near the largest safe integers', () => {
    const range = { start: MAX - 100, end: MAX, step: 7 };
    const n = rangeLength(range);
    expect(rangeAt(range, 0)).toBe(MAX - 100);
    expect(rangeAt(range, n - 1)).toBe(MAX - 2);
    expect(Number.isSafeInteger(rangeAt(range, n - 1))).toBe(true);
  });

  it('indexes the ten-millionth input of a large range', () => {
    const range = { start: -5e15, end: -5e15 + 30_000_000, step: 3 };
    expect(rangeAt(range, 9_999_999)).toBe(-5e15 + 29_999_997);
  });
});
