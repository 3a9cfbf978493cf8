/** Aggregates a job's results, read in input order, into `Job.result`; the order makes every reducer deterministic. */
import type { JsonValue, Reducer } from '@edgeswarm/shared';

export type ReduceOutcome =
  | { ok: true; value: JsonValue | undefined }
  | { ok: false; input: number; message: string };

/**
 * Reduces results given as JSON text in input order. `collect` has no aggregate. Sums use
 * Neumaier compensation in input order: float64, and the same value whatever order results
 * arrived in, because storage is keyed by input index.
 */
export function reduceResults(reducer: Reducer, resultsInOrder: Iterable<string>): ReduceOutcome {
  if (reducer === 'collect') return { ok: true, value: undefined };
  let count = 0;
  let sum = 0;
  let compensation = 0;
  let overflowAt = -1;
  let min = Infinity;
  let max = -Infinity;
  for (const json of resultsInOrder) {
    if (reducer === 'count') {
      count++;
      continue;
    }
    const x: unknown = JSON.parse(json);
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      return { ok: false, input: count, message: `result of input ${count} is ${describe(x)}; reduce "${reducer}" needs numbers` };
    }
    count++;
    const t = sum + x;
    compensation += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
    sum = t;
    if (overflowAt < 0 && !Number.isFinite(t)) overflowAt = count - 1;
    if (x < min || (x === 0 && min === 0 && Object.is(x, -0))) min = x;
    if (x > max || (x === 0 && max === 0 && Object.is(max, -0))) max = x;
  }
  if ((reducer === 'sum' || reducer === 'mean') && overflowAt >= 0) {
    return { ok: false, input: overflowAt, message: `the ${reducer} exceeds the float64 range at input ${overflowAt}` };
  }
  switch (reducer) {
    case 'count':
      return { ok: true, value: count };
    case 'sum':
      return { ok: true, value: sum + compensation };
    case 'mean':
      return { ok: true, value: count === 0 ? null : (sum + compensation) / count };
    case 'min':
      return { ok: true, value: count === 0 ? null : min };
    case 'max':
      return { ok: true, value: count === 0 ? null : max };
  }
}

/** Says why a value cannot feed a numeric reducer, or null if it can. */
export function numericProblem(reducer: Reducer, value: JsonValue): string | null {
  if (reducer === 'collect' || reducer === 'count') return null;
  if (typeof value === 'number' && Number.isFinite(value)) return null;
  return `the result is ${describe(value)}; reduce "${reducer}" needs numbers`;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `a string (${JSON.stringify(x.slice(0, 40))})`;
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}
