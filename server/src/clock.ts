/** Time as the hub sees it, injected so tests can move it by hand. */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Wall time, milliseconds since the Unix epoch: for timestamps people read. */
  now(): number;
  /**
   * Monotonic milliseconds, unaffected by wall-clock steps: for lease deadlines. Meaningful only
   * within one process, which is why a starting hub voids every lease of the previous one.
   */
  monotonic(): number;
}

export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

/** A clock that only moves when told to; both readings move together. */
export class ManualClock implements Clock {
  private mono = 1_000;
  constructor(private t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.mono;
  }
  advance(ms: number): void {
    this.t += ms;
    this.mono += ms;
  }
  /** Steps wall time only, as an NTP correction or a user changing the clock would. */
  stepWallClock(ms: number): void {
    this.t += ms;
  }
}
