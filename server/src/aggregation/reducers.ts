/** Aggregates a job's results, read in input order, into `Job.result`; the order makes every reducer deterministic. */
import type { JsonValue, Reducer } from '@edgeswarm/shared';

export type ReduceOutcome =
  | { ok: true; value: JsonValue | undefined }
  | { ok: false; input: number; message: string };

/**
 * Folds results given as JSON text in input order, one at a time, so a big job can be reduced in
 * steps. `collect` has no aggregate. Sums use Neumaier compensation in input order: float64, and
 * the same value whatever order results arrived in, because the store keys them by input index.
 */
export class Aggregator {
  private count = 0;
  private sum = 0;
  private compensation = 0;
  private overflowAt = -1;
  private min = Infinity;
  private max = -Infinity;
  private failure: ReduceOutcome | null = null;

  constructor(private readonly reducer: Reducer) {}

  /** Adds the next result; returns false once a result cannot be aggregated (see `outcome`). */
  add(json: string): boolean {
    if (this.failure) return false;
    const reducer = this.reducer;
    if (reducer === 'collect' || reducer === 'count') {
      this.count++;
      return true;
    }
    const x: unknown = JSON.parse(json);
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      const input = this.count;
      this.failure = { ok: false, input, message: `result of input ${input} is ${describe(x)}; reduce "${reducer}" needs numbers` };
      return false;
    }
    this.count++;
    const t = this.sum + x;
    this.compensation += Math.abs(this.sum) >= Math.abs(x) ? this.sum - t + x : x - t + this.sum;
    this.sum = t;
    if (this.overflowAt < 0 && !Number.isFinite(t)) this.overflowAt = this.count - 1;
    if (x < this.min || (x === 0 && this.min === 0 && Object.is(x, -0))) this.min = x;
    if (x > this.max || (x === 0 && this.max === 0 && Object.is(this.max, -0))) this.max = x;
    return true;
  }

  outcome(): ReduceOutcome {
    if (this.failure) return this.failure;
    const { reducer, count } = this;
    if ((reducer === 'sum' || reducer === 'mean') && this.overflowAt >= 0) {
      return { ok: false, input: this.overflowAt, message: `the ${reducer} exceeds the float64 range at input ${this.overflowAt}` };
    }
    switch (reducer) {
      case 'collect':
        return { ok: true, value: undefined };
      case 'count':
        return { ok: true, value: count };
      case 'sum':
        return { ok: true, value: this.sum + this.compensation };
      case 'mean':
        return { ok: true, value: count === 0 ? null : (this.sum + this.compensation) / count };
      case 'min':
        return { ok: true, value: count === 0 ? null : this.min };
      case 'max':
        return { ok: true, value: count === 0 ? null : this.max };
    }
  }
}

/** Reduces every result at once (small jobs and tests); see `Aggregator`. */
export function reduceResults(reducer: Reducer, resultsInOrder: Iterable<string>): ReduceOutcome {
  if (reducer === 'collect') return { ok: true, value: undefined };
  const aggregator = new Aggregator(reducer);
  for (const json of resultsInOrder) if (!aggregator.add(json)) break;
  return aggregator.outcome();
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
