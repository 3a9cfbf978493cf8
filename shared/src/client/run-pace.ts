/**
 * How much work a device holds (running plus waiting for a thread), for the volunteer page and the
 * Node agent alike: about TARGET_HELD_MS of work per thread at the device's measured speed, so short
 * runs come in batches and threads never wait on the network, within MIN/MAX per thread.
 */

import { MAX_HELD_PER_THREAD } from '../domain/limits.ts';

/** Work held per thread, in measured run time. */
export const TARGET_HELD_MS = 1_000;
/** Runs at least this long are held one per thread: a spare would only lengthen the end of a job. */
export const LONG_RUN_MS = 5_000;
/** Weight of the newest run time in the moving average. */
const SMOOTHING = 0.2;

export class RunPace {
  private average: number | null = null;

  /** `maxPerThread`: most inputs held per thread however short the runs (default and at most: the hub's limit). */
  constructor(private readonly maxPerThread = MAX_HELD_PER_THREAD) {}

  /** Average run time so far (exponentially weighted), or null before the first run. */
  get averageRunMs(): number | null {
    return this.average;
  }

  record(runMs: number): void {
    if (!Number.isFinite(runMs) || runMs < 0) return;
    this.average = this.average === null ? runMs : this.average * (1 - SMOOTHING) + runMs * SMOOTHING;
  }

  /** Forget the measured speed (a new job's runs may differ). */
  reset(): void {
    this.average = null;
  }

  /**
   * Inputs to hold for `threads` threads: one per thread until a run time is known or when runs are
   * long; otherwise TARGET_HELD_MS of work per thread, at least 2 (one running, one waiting) and at
   * most `maxPerThread`.
   */
  holdTarget(threads: number): number {
    const avg = this.average;
    if (avg === null || avg >= LONG_RUN_MS) return threads;
    const perThread = Math.min(this.maxPerThread, Math.max(2, Math.round(TARGET_HELD_MS / Math.max(avg, 0.01))));
    return threads * perThread;
  }

  /**
   * How many of `free` slots to ask for: half the hold target at most once it is more than one per thread, so the
   * device holds two leases or more and runs one while the results of the other travel (the hub counts inputs as held
   * until their results are acknowledged).
   */
  askFor(threads: number, free: number): number {
    const target = this.holdTarget(threads);
    return target > threads ? Math.min(free, Math.ceil(target / 2)) : free;
  }

  /** What to ask the hub for with `free` slots: `askFor` of them once they are worth a request (`worthAsking`), else null. */
  request(threads: number, free: number): number | null {
    return this.worthAsking(threads, free) ? this.askFor(threads, free) : null;
  }

  /**
   * Whether `free` slots are worth a request: once half the held work has run (a low-water mark), so
   * requests come in batches, one per half-second of work, rather than one per finished run, and the
   * other half covers the round trip; with one input per thread, any free slot.
   */
  worthAsking(threads: number, free: number): boolean {
    const target = this.holdTarget(threads);
    return free >= (target > threads ? Math.floor(target / 2) : 1);
  }
}
