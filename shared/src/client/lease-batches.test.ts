import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LeaseGrant, RunResult } from '../protocol/messages.ts';
import { FLUSH_DELAY_MS, MAX_BATCH_CHARS } from './device-timing.ts';
import { LeaseBatches } from './lease-batches.ts';

const grant = (leaseId: string, items: number, jobId = 'job-1'): LeaseGrant => ({
  leaseId,
  jobId,
  code: '(x) => x',
  timeoutMs: 1000,
  items: Array.from({ length: items }, (_, index) => ({ index, input: index })),
});
const ok = (index: number, json = String(index)): RunResult => ({ index, ok: true, json });

describe('LeaseBatches', () => {
  let sent: { leaseId: string; indexes: number[] }[];
  let batches: LeaseBatches;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    batches = new LeaseBatches((leaseId, _jobId, results) => sent.push({ leaseId, indexes: results.map((r) => r.index) }));
  });
  afterEach(() => vi.useRealTimers());

  it('sends a lease’s results together after a short delay, and at once with its last input', () => {
    const lease = batches.open(grant('a', 3));
    batches.finish(lease, ok(0));
    batches.finish(lease, ok(1));
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(FLUSH_DELAY_MS);
    expect(sent).toEqual([{ leaseId: 'a', indexes: [0, 1] }]);
    batches.finish(lease, ok(2));
    expect(sent.at(-1)).toEqual({ leaseId: 'a', indexes: [2] });
    expect(batches.holds(lease)).toBe(false);
    expect(batches.size).toBe(0);
  });

  it('sends a batch as soon as it is big enough', () => {
    const lease = batches.open(grant('a', 3));
    batches.finish(lease, ok(0, `"${'x'.repeat(MAX_BATCH_CHARS)}"`));
    expect(sent).toEqual([{ leaseId: 'a', indexes: [0] }]);
  });

  it('closes a lease whose last inputs were abandoned, sending what finished', () => {
    const lease = batches.open(grant('a', 2));
    batches.finish(lease, ok(0));
    batches.finish(lease, null);
    expect(sent).toEqual([{ leaseId: 'a', indexes: [0] }]);
    expect(batches.size).toBe(0);
  });

  it('drops a stopped job’s leases and unsent results, and ignores their late runs', () => {
    const stopped = batches.open(grant('a', 2, 'job-1'));
    const other = batches.open(grant('b', 2, 'job-2'));
    batches.finish(stopped, ok(0));
    batches.dropJob('job-1');
    batches.finish(stopped, ok(1));
    vi.advanceTimersByTime(FLUSH_DELAY_MS);
    expect(sent).toEqual([]);
    batches.finish(other, ok(0));
    batches.releaseAll();
    expect(sent).toEqual([{ leaseId: 'b', indexes: [0] }]);
  });
});
