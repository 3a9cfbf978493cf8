import { describe, expect, it } from 'vitest';
import { ReadCoalescer } from './pg-read-batch.ts';

describe('ReadCoalescer', () => {
  it('answers the reads of one turn with one fetch of their distinct keys', async () => {
    const fetches: string[][] = [];
    const reads = new ReadCoalescer<string, number>(async (keys) => {
      fetches.push(keys);
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.length]));
    });
    const answers = await Promise.all([reads.get('a'), reads.get('bb'), reads.get('a'), reads.get('missing')]);
    expect(answers).toEqual([1, 2, 1, null]);
    expect(fetches).toEqual([['a', 'bb', 'missing']]);
    expect(await reads.get('ccc')).toBe(3);
    expect(fetches).toHaveLength(2);
  });

  it('rejects every read of a turn whose fetch failed, and the next turn reads again', async () => {
    let fail = true;
    const reads = new ReadCoalescer<string, string>(async (keys) => {
      if (fail) throw new Error('database down');
      return new Map(keys.map((k) => [k, k]));
    });
    const results = await Promise.allSettled([reads.get('a'), reads.get('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await reads.get('a')).toBe('a');
  });
});
