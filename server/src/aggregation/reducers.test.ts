import { describe, expect, it } from 'vitest';
import { REDUCERS, type Reducer } from '@edgeswarm/shared';
import { numericProblem, reduceResults, type ReduceOutcome } from './reducers.ts';

const json = (xs: unknown[]): string[] => xs.map((x) => JSON.stringify(x));

function value(outcome: ReduceOutcome): unknown {
  if (!outcome.ok) throw new Error(`expected ok, got: ${outcome.message}`);
  return outcome.value;
}

const sumOf = (xs: number[]): unknown => value(reduceResults('sum', json(xs)));

const naiveSum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** A float64 as sign * mantissa * 2^exponent with an integer mantissa, read from its bits. */
function decompose(x: number): [mantissa: bigint, exponent: number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const sign = bits >> 63n === 1n ? -1n : 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  if (biased === 0) return [sign * fraction, -1074]; // subnormal
  return [sign * (fraction | (1n << 52n)), biased - 1075];
}

/**
 * The exact sum of finite float64 values, rounded once to the nearest float64. Every value is an
 * integer times a power of two, so scaling all of them to the smallest exponent makes the sum an
 * exact BigInt; Number(bigint) rounds to nearest, ties to even, and the final power-of-two scaling
 * is exact while the result stays a normal number (true for every list used below).
 */
function correctlyRoundedSum(xs: number[]): number {
  const parts = xs.filter((x) => x !== 0).map(decompose);
  if (parts.length === 0) return 0;
  const minExponent = Math.min(...parts.map(([, e]) => e));
  let total = 0n;
  for (const [m, e] of parts) total += m << BigInt(e - minExponent);
  const rounded = Number(total);
  if (!Number.isFinite(rounded)) throw new Error('list out of range for the reference sum');
  return rounded * 2 ** minExponent;
}

/** Distance between two float64 values in units in the last place of `reference`. */
function ulpsApart(x: number, reference: number): number {
  if (reference === 0) return x === 0 ? 0 : Infinity;
  const ulp = 2 ** (Math.floor(Math.log2(Math.abs(reference))) - 52);
  return Math.abs(x - reference) / ulp;
}

/** A seeded shuffle, so every run tries the same orders. */
function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function* generated(xs: string[]): Generator<string> {
  yield* xs;
}

describe('reduceResults on a known list', () => {
  const list = json([3, -1.5, 10, 0, 2]);

  it.each<[Reducer, number]>([
    ['sum', 13.5],
    ['min', -1.5],
    ['max', 10],
    ['mean', 2.7],
    ['count', 5],
  ])('reduces with "%s" to %s', (reducer, expected) => {
    expect(reduceResults(reducer, list)).toEqual({ ok: true, value: expected });
  });

  it('has no aggregate for "collect"', () => {
    expect(reduceResults('collect', list)).toEqual({ ok: true, value: undefined });
  });

  it('does not read the results for "collect", so anything stored is fine', () => {
    expect(reduceResults('collect', ['not json', '{"a":1}'])).toEqual({ ok: true, value: undefined });
  });

  it('counts results of any JSON type with "count"', () => {
    expect(reduceResults('count', json(['a', null, [1], { b: 2 }, true, 1]))).toEqual({ ok: true, value: 6 });
  });

  it('reads results from any iterable, such as a generator', () => {
    expect(reduceResults('sum', generated(json([1, 2, 3.5])))).toEqual({ ok: true, value: 6.5 });
    expect(reduceResults('max', generated(json([1, 9, 3])))).toEqual({ ok: true, value: 9 });
  });

  it('finds min and max of a single value and of all-negative lists', () => {
    expect(reduceResults('min', json([7]))).toEqual({ ok: true, value: 7 });
    expect(reduceResults('max', json([7]))).toEqual({ ok: true, value: 7 });
    expect(reduceResults('max', json([-5, -2, -9]))).toEqual({ ok: true, value: -2 });
    expect(reduceResults('min', json([-5, -2, -9]))).toEqual({ ok: true, value: -9 });
  });

  it('orders -0 below 0 for min and 0 above -0 for max, whatever comes first', () => {
    expect(Object.is(value(reduceResults('min', ['0', '-0'])), -0)).toBe(true);
    expect(Object.is(value(reduceResults('min', ['-0', '0'])), -0)).toBe(true);
    expect(Object.is(value(reduceResults('max', ['-0', '0'])), 0)).toBe(true);
    expect(Object.is(value(reduceResults('max', ['0', '-0'])), 0)).toBe(true);
  });
});

describe('reduceResults on no results', () => {
  it.each<[Reducer, number | null | undefined]>([
    ['sum', 0],
    ['count', 0],
    ['mean', null],
    ['min', null],
    ['max', null],
    ['collect', undefined],
  ])('reduces with "%s" to %s', (reducer, expected) => {
    expect(reduceResults(reducer, [])).toEqual({ ok: true, value: expected });
  });
});

describe('reduceResults on results that are not numbers', () => {
  const numeric = REDUCERS.filter((r) => r !== 'collect' && r !== 'count');

  it.each(numeric.map((r) => [r]))('fails "%s" naming the index of the first non-number', (reducer) => {
    const outcome = reduceResults(reducer, json([1, 2, 'three', null]));
    expect(outcome).toEqual({
      ok: false,
      input: 2,
      message: `result of input 2 is a string ("three"); reduce "${reducer}" needs numbers`,
    });
  });

  it.each([
    ['null', null, 'null'],
    ['an array', [1], 'an array'],
    ['a boolean', true, 'a boolean'],
    ['an object', { n: 1 }, 'an object'],
  ])('says the result is %s', (_label, result, described) => {
    expect(reduceResults('sum', json([result]))).toEqual({
      ok: false,
      input: 0,
      message: `result of input 0 is ${described}; reduce "sum" needs numbers`,
    });
  });

  it('shortens a long string in the message', () => {
    const outcome = reduceResults('mean', json([1, 'x'.repeat(1000)]));
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.message).toBe(
      `result of input 1 is a string (${JSON.stringify('x'.repeat(40))}); reduce "mean" needs numbers`,
    );
  });
});

describe('numericProblem', () => {
  it.each(REDUCERS.map((r) => [r]))('accepts a finite number for "%s"', (reducer) => {
    expect(numericProblem(reducer, 1.5)).toBeNull();
    expect(numericProblem(reducer, -0)).toBeNull();
  });

  it.each([['collect'], ['count']] as const)('accepts anything for "%s"', (reducer) => {
    expect(numericProblem(reducer, 'text')).toBeNull();
    expect(numericProblem(reducer, null)).toBeNull();
    expect(numericProblem(reducer, { a: [1] })).toBeNull();
  });

  it.each([
    ['a string', 'text', 'a string ("text")'],
    ['null', null, 'null'],
    ['an array', [1, 2], 'an array'],
    ['NaN', NaN, 'a number'],
    ['Infinity', Infinity, 'a number'],
  ])('rejects %s for "sum", saying what it is', (_label, result, described) => {
    expect(numericProblem('sum', result)).toBe(`the result is ${described}; reduce "sum" needs numbers`);
  });

  it.each([['min'], ['max'], ['mean']] as const)('rejects a string for "%s"', (reducer) => {
    expect(numericProblem(reducer, '1')).toBe(`the result is a string ("1"); reduce "${reducer}" needs numbers`);
  });
});

describe('reference sum used by the determinism tests', () => {
  it('equals one float64 addition for pairs, which IEEE 754 rounds correctly', () => {
    const samples = [0.1, 0.2, 0.3, 1e16, -1e16, 1, 3.3, -2.5e-8, 123456.789, 2 ** 53, 1e-20, -7.25, 2 ** 53 + 2];
    for (const a of samples) for (const b of samples) expect(correctlyRoundedSum([a, b])).toBe(a + b);
  });
});

describe('reduceResults sums deterministically and compensated', () => {
  // Lists where plain left-to-right float64 addition loses digits.
  const awkward: [string, number[]][] = [
    ['1e16, 1, -1e16', [1e16, 1, -1e16]],
    ['cancelling large terms around small ones', [0.1, 1e16, -1e16, 3.3, 0.2, -0.3, 2.5e-8]],
    ['1, 1e100, 1, -1e100', [1, 1e100, 1, -1e100]],
    ['a thousand times 0.1', new Array<number>(1000).fill(0.1)],
    ['tiny terms between 3 and -3', [3, 1e-16, 1e-16, 1e-16, -3]],
    ['ones around 2^53', [2 ** 53, 1, 1, -(2 ** 53)]],
    ['eight ones inside 1e16', [1e16, 1, 1, 1, 1, 1, 1, 1, 1, -1e16]],
  ];

  it('sums [1e16, 1, -1e16] to 1 where naive summation gives 0', () => {
    expect(naiveSum([1e16, 1, -1e16])).toBe(0);
    expect(sumOf([1e16, 1, -1e16])).toBe(1);
  });

  it.each(awkward)('sums %s to the correctly rounded exact sum, unlike naive summation', (_label, xs) => {
    const exact = correctlyRoundedSum(xs);
    expect(naiveSum(xs)).not.toBe(exact);
    expect(sumOf(xs)).toBe(exact);
  });

  it('uses the compensated sum for the mean', () => {
    const xs = [1e16, 1, -1e16, 3];
    expect(naiveSum(xs) / xs.length).toBe(0.75);
    expect(value(reduceResults('mean', json(xs)))).toBe(1);
  });

  it.each(awkward)('gives bit-identical values for the same order every time: %s', (_label, xs) => {
    const strings = json(xs);
    for (const reducer of ['sum', 'mean', 'min', 'max'] as const) {
      const first = value(reduceResults(reducer, strings));
      for (let k = 0; k < 5; k++) {
        expect(Object.is(value(reduceResults(reducer, [...strings])), first)).toBe(true);
        expect(Object.is(value(reduceResults(reducer, generated(strings))), first)).toBe(true);
      }
    }
  });

  // The store always supplies results in input order (keyed by index, not arrival), so only the
  // same order must give the same bits. Other orders of the same values stay within 2 ulps.
  it.each(awkward)('stays within 2 ulps of the exact sum in any order: %s', (_label, xs) => {
    const exact = correctlyRoundedSum(xs);
    for (let seed = 1; seed <= 40; seed++) {
      const got = sumOf(shuffled(xs, seed));
      expect(typeof got).toBe('number');
      expect(ulpsApart(got as number, exact)).toBeLessThanOrEqual(2);
    }
  });

  it('gives the same min, max and count in any order', () => {
    const xs = [0.1, 1e16, -1e16, 3.3, 0.2, -0.3, 2.5e-8];
    for (let seed = 1; seed <= 20; seed++) {
      const strings = json(shuffled(xs, seed));
      expect(value(reduceResults('min', strings))).toBe(-1e16);
      expect(value(reduceResults('max', strings))).toBe(1e16);
      expect(value(reduceResults('count', strings))).toBe(7);
    }
  });

  it('fails with the input where the sum leaves the float64 range, since JSON cannot hold Infinity', () => {
    expect(naiveSum([1e308, 1e308])).toBe(Infinity);
    expect(reduceResults('sum', json([1, 1e308, 1e308, 2]))).toEqual({
      ok: false,
      input: 2,
      message: 'the sum exceeds the float64 range at input 2',
    });
    expect(reduceResults('mean', json([1e308, 1e308])).ok).toBe(false);
  });
});
