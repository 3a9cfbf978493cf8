import { describe, expect, it } from 'vitest';
import { agreeingGroups, numbersAgree, resultsAgree } from './agreement.ts';

describe('result agreement', () => {
  it('ignores key order, as the canonical JSON form does', () => {
    expect(resultsAgree({ a: 1, b: [1, { c: 'x', d: null }] }, { b: [1, { d: null, c: 'x' }], a: 1 }, 0)).toBe(true);
  });

  it('tells apart values that differ anywhere', () => {
    expect(resultsAgree({ a: 1 }, { a: 2 }, 0)).toBe(false);
    expect(resultsAgree({ a: 1 }, { a: 1, b: 1 }, 0)).toBe(false);
    expect(resultsAgree({ a: 1, c: 1 }, { a: 1, b: 1 }, 0)).toBe(false);
    expect(resultsAgree([1, 2], [2, 1], 0)).toBe(false);
    expect(resultsAgree([1], { 0: 1 }, 0)).toBe(false);
    expect(resultsAgree('1', 1, 0)).toBe(false);
    expect(resultsAgree(null, false, 0)).toBe(false);
    expect(resultsAgree(true, true, 0)).toBe(true);
  });

  it('compares numbers within the relative tolerance, and exactly without one', () => {
    const sin = Math.sin(1e6);
    const lastBits = sin * (1 + 4 * Number.EPSILON);
    expect(resultsAgree({ v: sin }, { v: lastBits }, 0)).toBe(false);
    expect(resultsAgree({ v: sin }, { v: lastBits }, 1e-12)).toBe(true);
    expect(numbersAgree(100, 101, 0.01)).toBe(true);
    expect(numbersAgree(100, 102, 0.01)).toBe(false);
    expect(numbersAgree(0, -0, 0)).toBe(true);
    expect(numbersAgree(0, 1e-300, 0.5)).toBe(false);
  });

  it('compares deeply nested results without overflowing the stack', () => {
    let a: unknown = 1;
    let b: unknown = 1;
    for (let i = 0; i < 100_000; i++) {
      a = [a];
      b = [b];
    }
    expect(resultsAgree(a as never, b as never, 0)).toBe(true);
  });

  it('groups results around the first of each group, largest group first', () => {
    expect(agreeingGroups([1, 2, 2, 3], 0)).toEqual([[1, 2], [0], [3]]);
    expect(agreeingGroups([1, 2], 0)).toEqual([[0], [1]]);
    expect(agreeingGroups([100, 100.5, 101, 99.6], 0.006)).toEqual([[0, 1, 3], [2]]);
  });
});
