/**
 * The leases a device holds and the results of each waiting to be sent, for the volunteer page and the
 * Node agent alike: results go out in batches (after FLUSH_DELAY_MS, at MAX_BATCH_CHARS, or when the
 * lease has no input left to run), so a lease of many short inputs costs a few messages, not one each.
 */
import type { LeaseGrant, RunResult } from '../protocol/messages.ts';
import type { RunOutcome } from '../runtime/job-function.ts';
import { FLUSH_DELAY_MS, MAX_BATCH_CHARS } from './device-timing.ts';

// Both runtimes (browsers, Node) have these timers; shared code compiles without platform types.
declare function setTimeout(fn: () => void, ms: number): unknown;
declare function clearTimeout(handle: unknown): void;

/** The wire form of one input's outcome, with its run time (ms, for the hub's time model) when measured. */
export function toRunResult(index: number, outcome: RunOutcome, runMs?: number): RunResult {
  const result: RunResult = outcome.ok ? { index, ok: true, json: outcome.json } : { index, ok: false, code: outcome.code, message: outcome.message };
  if (runMs !== undefined && Number.isFinite(runMs) && runMs >= 0) result.ms = Math.round(runMs * 1000) / 1000;
  return result;
}

export interface HeldLease {
  readonly grant: LeaseGrant;
  /** Inputs not finished yet (queued or running); the lease closes when it reaches 0. */
  outstanding: number;
  buffer: RunResult[];
  bufferChars: number;
  flushTimer: unknown;
}

export class LeaseBatches {
  private readonly leases = new Map<string, HeldLease>();

  /** `send`: hands one batch to the outbox. `flushDelayMs`: how long finished results wait for more of their lease. */
  constructor(
    private readonly send: (leaseId: string, jobId: string, results: RunResult[]) => void,
    private readonly flushDelayMs = FLUSH_DELAY_MS,
  ) {}

  get size(): number {
    return this.leases.size;
  }

  /** Held leases, oldest first. */
  values(): IterableIterator<HeldLease> {
    return this.leases.values();
  }

  open(grant: LeaseGrant): HeldLease {
    const lease: HeldLease = { grant, outstanding: grant.items.length, buffer: [], bufferChars: 0, flushTimer: null };
    this.leases.set(grant.leaseId, lease);
    return lease;
  }

  /** Whether the lease is still held (not closed, dropped or given up since). */
  holds(lease: HeldLease): boolean {
    return this.leases.get(lease.grant.leaseId) === lease;
  }

  /**
   * One input of the lease is finished: with its result, or without one (`null`: abandoned). A lease no
   * longer held ignores it. The batch goes out when it is big enough, after a short delay, or at once
   * when it was the lease's last input.
   */
  finish(lease: HeldLease, result: RunResult | null): void {
    if (!this.holds(lease)) return;
    lease.outstanding--;
    if (result !== null) {
      lease.buffer.push(result);
      lease.bufferChars += result.ok ? result.json.length : result.message.length;
    }
    if (lease.outstanding <= 0) {
      this.flush(lease);
      this.leases.delete(lease.grant.leaseId);
    } else if (lease.bufferChars >= MAX_BATCH_CHARS) {
      this.flush(lease);
    } else if (lease.buffer.length > 0) {
      lease.flushTimer ??= setTimeout(() => this.flush(lease), this.flushDelayMs);
    }
  }

  /** The job was stopped: its leases are forgotten, their unsent results dropped. */
  dropJob(jobId: string): void {
    for (const lease of [...this.leases.values()]) {
      if (lease.grant.jobId !== jobId) continue;
      if (lease.flushTimer !== null) clearTimeout(lease.flushTimer);
      this.leases.delete(lease.grant.leaseId);
    }
  }

  /** Sends what every lease has finished and forgets the leases (their other inputs are abandoned). */
  releaseAll(): void {
    for (const lease of this.leases.values()) this.flush(lease);
    this.leases.clear();
  }

  private flush(lease: HeldLease): void {
    if (lease.flushTimer !== null) clearTimeout(lease.flushTimer);
    lease.flushTimer = null;
    const results = lease.buffer;
    lease.buffer = [];
    lease.bufferChars = 0;
    if (results.length > 0) this.send(lease.grant.leaseId, lease.grant.jobId, results);
  }
}
