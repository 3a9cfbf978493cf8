/**
 * Crash points for tests of durability: `EDGESWARM_CRASH_AT=point[:n],...` makes the hub kill itself
 * with SIGKILL the n-th time (default 1st) it passes `point`. Unset, every point is a no-op.
 */

export const CRASH_POINTS = [
  /** A job is committed; the HTTP answer is not sent yet. */
  'job:committed',
  /** A lease is committed; the device has not been told. */
  'lease:committed',
  /** A device's results are committed; the ack is not sent yet. */
  'results:committed',
  /** Every subtask of a job is done; the job is not yet completed. */
  'job:finalizing',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface Faults {
  reached(point: CrashPoint): void;
}

export const noFaults: Faults = { reached: () => {} };

export function faultsFromEnv(spec: string | undefined, die: () => void = () => process.kill(process.pid, 'SIGKILL')): Faults {
  if (!spec) return noFaults;
  const targets = new Map<string, number>();
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(.+?)(?::(\d+))?$/.exec(part);
    const point = match?.[1] ?? '';
    const nth = match?.[2] ?? '1';
    if (!(CRASH_POINTS as readonly string[]).includes(point) || Number(nth) < 1) {
      throw new Error(`EDGESWARM_CRASH_AT: "${part}" is not point[:n] with point one of ${CRASH_POINTS.join(', ')}`);
    }
    targets.set(point, Number(nth));
  }
  const seen = new Map<string, number>();
  return {
    reached(point) {
      const target = targets.get(point);
      if (target === undefined) return;
      const count = (seen.get(point) ?? 0) + 1;
      seen.set(point, count);
      if (count === target) die();
    },
  };
}
