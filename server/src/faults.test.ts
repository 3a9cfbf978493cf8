import { describe, expect, it } from 'vitest';
import { faultsFromEnv } from './faults.ts';

describe('faultsFromEnv', () => {
  it('does nothing without a spec', () => {
    let died = 0;
    const faults = faultsFromEnv(undefined, () => died++);
    for (let i = 0; i < 5; i++) faults.reached('lease:committed');
    expect(died).toBe(0);
  });

  it('dies exactly at the n-th pass of the named point and ignores the others', () => {
    const deaths: string[] = [];
    let last = '';
    const faults = faultsFromEnv('results:committed:3, job:finalizing', () => deaths.push(last));
    for (const point of ['results:committed', 'lease:committed', 'results:committed', 'job:finalizing', 'results:committed', 'results:committed'] as const) {
      last = point;
      faults.reached(point);
    }
    expect(deaths).toEqual(['job:finalizing', 'results:committed']);
  });

  it.each(['nowhere', 'lease:committed:0', 'lease:committed:x', 'lease'])('rejects the spec "%s" naming the allowed points', (spec) => {
    expect(() => faultsFromEnv(spec, () => {})).toThrow(/EDGESWARM_CRASH_AT: .* is not point\[:n\] with point one of job:committed/);
  });
});
