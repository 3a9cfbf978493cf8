/** Rules both store engines apply alike, kept out of their SQL so they cannot drift apart. */

/** A job's share of devices among running jobs: weight 2^(priority/2) (priority 0: 1; +2: twice; -2: half). */
export function priorityWeight(priority: number): number {
  return 2 ** (priority / 2);
}

/** Slow start: until a job has a first success a connection holds one of its inputs at a time; then leases grow with its successes. */
export function slowStartMax(requested: number, completed: number): number {
  return Math.min(requested, Math.max(1, completed));
}
