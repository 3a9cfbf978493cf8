/** The verification rules on their own, with no database: decisions, verdicts, error limits and replica targets. */
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '@edgeswarm/shared';
import { afterLoss, decide, ERROR_DEVICES, failedForGood, freshTargets, judgeLate, settle, SPOT_CHECK_RATE, TRUST_STREAK, type QuorumJob } from './quorum.ts';

const job = (over: Partial<QuorumJob> = {}): QuorumJob => ({ verify: 'replicate', replication: 2, quorum: 2, tolerance: 0, maxAttempts: 3, ...over });

describe('decide', () => {
  it('waits while the quorum can still be reached', () => {
    expect(decide(job(), 0, 2, [5])).toEqual({ kind: 'wait', target: 2 });
  });

  it('accepts the agreeing group once it reaches the quorum, every member valid', () => {
    expect(decide(job(), 0, 2, [5, 5])).toEqual({ kind: 'accept', value: 0, verdicts: ['valid', 'valid'] });
  });

  it('asks for one more replica per missing vote on disagreement, then accepts the majority and calls the other invalid', () => {
    expect(decide(job(), 0, 2, [5, 6])).toEqual({ kind: 'wait', target: 3 });
    expect(decide(job(), 0, 3, [5, 6, 5])).toEqual({ kind: 'accept', value: 0, verdicts: ['valid', 'invalid', 'valid'] });
  });

  it('fails with no_quorum once more than 2k replicas would be needed', () => {
    const d = decide(job(), 7, 4, [1, 2, 3, 4]);
    expect(d).toMatchObject({ kind: 'fail', error: { code: 'no_quorum', input: 7 } });
  });

  it('accepts a lone run on its own word, unchecked', () => {
    expect(decide(job({ verify: 'adaptive' }), 0, 1, [9])).toEqual({ kind: 'accept', value: 0, verdicts: ['unchecked'] });
  });

  it('stores the member that agrees with the most results when tolerance is not transitive', () => {
    const d = decide(job({ replication: 3, quorum: 2, tolerance: 0.01 }), 0, 3, [1.0099, 1.0, 0.991]);
    expect(d.kind).toBe('accept');
    if (d.kind === 'accept') expect(d.value).toBe(1);
  });

  it('never accepts a value fewer than `quorum` results agree on (random reports)', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let round = 0; round < 500; round++) {
      const k = 2 + Math.floor(rand() * 3);
      const q = 1 + Math.floor(rand() * k);
      const values: JsonValue[] = Array.from({ length: 1 + Math.floor(rand() * 2 * k) }, () => Math.floor(rand() * 3));
      const d = decide(job({ replication: k, quorum: q }), 0, k, values);
      if (d.kind !== 'accept') continue;
      const agreeing = values.filter((v) => v === values[d.value]).length;
      expect(agreeing).toBeGreaterThanOrEqual(q);
      expect(d.verdicts.filter((v) => v === 'valid').length).toBe(agreeing);
    }
  });
});

describe('verdicts', () => {
  it('calls a late result that disagrees with a majority-backed value invalid, and with a minority-backed one disputed', () => {
    expect(judgeLate(job({ replication: 4 }), [1, 1, 1], 2)).toBe('invalid');
    expect(judgeLate(job({ replication: 4 }), [1], 2)).toBe('disputed');
    expect(judgeLate(job({ replication: 4 }), [1], 1)).toBe('valid');
  });
});

describe('errors and losses', () => {
  it('fails an input after maxAttempts errors from ERROR_DEVICES devices, or twice maxAttempts from fewer', () => {
    const j = job({ maxAttempts: 2 });
    const last = { code: 'work_error' as const, message: 'boom' };
    expect(failedForGood(j, 0, 2, 1, last)).toBeNull();
    expect(failedForGood(j, 0, 2, ERROR_DEVICES, last)).toMatchObject({ code: 'work_error', input: 0 });
    expect(failedForGood(j, 0, 4, 1, last)?.message).toContain('failed 4 time(s) on 1 devices; last error: boom');
  });

  it('replicates an input again after a lone run is lost', () => {
    expect(afterLoss(job({ replication: 3 }), 1)).toBe(3);
    expect(afterLoss(job({ replication: 3 }), 4)).toBe(4);
  });

  it('queues an input while a replica slot is open and leases it when all are taken', () => {
    expect(settle({ state: 'leased', target: 2 }, { out: 1, ok: 0 })).toEqual({ state: 'queued', target: 2, change: { queued: 1, leased: -1 } });
    expect(settle({ state: 'queued', target: 2 }, { out: 1, ok: 1 })).toEqual({ state: 'leased', target: 2, change: { queued: -1, leased: 1 } });
    expect(settle({ state: 'queued', target: 2 }, { out: 1, ok: 0 })).toBeNull();
  });
});

describe('fresh targets', () => {
  it('replicates every input of an untrusted device, and a spot-check share of a trusted one', () => {
    const adaptive = job({ verify: 'adaptive', replication: 2 });
    expect(freshTargets(adaptive, TRUST_STREAK - 1, 3, () => 0.9)).toEqual([2, 2, 2]);
    const draws = [SPOT_CHECK_RATE / 2, 0.9, 0.9];
    expect(freshTargets(adaptive, TRUST_STREAK, 3, () => draws.shift() ?? 0.9)).toEqual([2, 1, 1]);
    expect(freshTargets(job(), 1000, 2, () => 0.9)).toEqual([2, 2]);
  });
});
