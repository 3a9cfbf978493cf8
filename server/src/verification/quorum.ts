/**
 * The rules of result verification, as pure functions both store engines call: how many replicas an input wants,
 * when the reported results of one input are accepted (quorum with tolerance), when more replicas are asked for
 * and when the input fails, how each device's result is judged, and when a run's errors fail the input. The
 * engines load an input's rows, ask these functions, and write the decision back.
 */
import { agreeingGroups, resultsAgree, type JobError, type JsonValue } from '@edgeswarm/shared';

/** Valid verified results in a row after which an adaptive job gives a device single runs. */
export const TRUST_STREAK = 10;
/** Share of a trusted device's inputs still replicated (spot checks), at random. */
export const SPOT_CHECK_RATE = 0.1;
/**
 * A verified input fails on errors after `maxAttempts` failed runs from this many distinct devices, or
 * after twice `maxAttempts` failed runs in all (a lone device whose runs keep failing must not loop forever).
 */
export const ERROR_DEVICES = 2;

/** The verification settings of a job. */
export interface QuorumJob {
  verify: 'none' | 'replicate' | 'adaptive';
  replication: number;
  quorum: number;
  tolerance: number;
  maxAttempts: number;
}

export type InputState = 'leased' | 'queued' | 'done' | 'failed';

/** Change of a job's `queued` and `leased` counters. */
export interface CounterChange {
  queued: number;
  leased: number;
}

export const NO_CHANGE: CounterChange = { queued: 0, leased: 0 };

/**
 * An open input's state from its replicas: queued while a slot is open (fewer replicas running or reported
 * than `target`), else leased. Null when nothing changes.
 */
export function settle(
  current: { state: InputState; target: number },
  taken: { out: number; ok: number },
  target: number = current.target,
): { state: 'queued' | 'leased'; target: number; change: CounterChange } | null {
  const state = taken.out + taken.ok < target ? 'queued' : 'leased';
  if (state === current.state && target === current.target) return null;
  if (state === current.state) return { state, target, change: NO_CHANGE };
  return { state, target, change: state === 'queued' ? { queued: 1, leased: -1 } : { queued: -1, leased: 1 } };
}

/** Counter change when an open input (queued or leased) is decided. */
export function leaving(state: InputState): CounterChange {
  return state === 'queued' ? { queued: -1, leased: 0 } : { queued: 0, leased: -1 };
}

/** After a lost or failed single run of an adaptive job, the input is replicated like any other. */
export function afterLoss(job: Pick<QuorumJob, 'replication'>, target: number): number {
  return target < job.replication ? job.replication : target;
}

/**
 * Replicas wanted by each of `count` inputs a device takes for the first time. In an adaptive job a trusted
 * device (a streak of TRUST_STREAK valid results) runs them alone, except a random SPOT_CHECK_RATE of them,
 * replicated like anyone's (the device cannot tell which).
 */
export function freshTargets(job: Pick<QuorumJob, 'verify' | 'replication'>, streak: number, count: number, random: () => number): number[] {
  const trusted = job.verify === 'adaptive' && streak >= TRUST_STREAK;
  const targets: number[] = [];
  for (let i = 0; i < count; i++) targets.push(trusted && random() >= SPOT_CHECK_RATE ? 1 : job.replication);
  return targets;
}

/**
 * After a failed run of input `idx` (its `attempts` failed runs so far, from `devices` distinct devices):
 * the error that fails the input for good, or null while it may run again.
 */
export function failedForGood(job: Pick<QuorumJob, 'maxAttempts'>, idx: number, attempts: number, devices: number, last: { code: JobError['code']; message: string }): JobError | null {
  if ((attempts >= job.maxAttempts && devices >= ERROR_DEVICES) || attempts >= 2 * job.maxAttempts) {
    return { code: last.code, message: `input ${idx} failed ${attempts} time(s) on ${devices} devices; last error: ${last.message}`, input: idx };
  }
  return null;
}

/** A verdict on one device's result: `unchecked` for a lone run that was accepted on its own word. */
export type Verdict = 'valid' | 'invalid' | 'disputed' | 'unchecked';

/**
 * The verdict on a result, given whether it agrees with the accepted one and how many devices back the accepted
 * one. A result that disagrees with a value backed by a majority of k devices is invalid (its device is
 * quarantined); against a smaller group (a quorum below a majority) it is only disputed, so an honest device
 * is not thrown out by a minority.
 */
export function verdictOn(job: Pick<QuorumJob, 'replication'>, valid: boolean, support: number): Exclude<Verdict, 'unchecked'> {
  if (valid) return 'valid';
  return 2 * support <= job.replication ? 'disputed' : 'invalid';
}

/** What to do with an undecided input after a result arrived. */
export type Decision =
  /** Accept the value reported at `value` (an index into the results); one verdict per reported result, in order. */
  | { kind: 'accept'; value: number; verdicts: Verdict[] }
  /** Keep waiting, now for `target` replicas in all (more than before: the quorum can no longer be reached otherwise). */
  | { kind: 'wait'; target: number }
  | { kind: 'fail'; error: JobError };

/**
 * Looks at an undecided input's reported results (in arrival order): accepts the largest agreeing group once it
 * reaches the quorum (a lone run of an adaptive job is accepted unchecked), asks for more replicas when the quorum
 * can no longer be reached, and fails the input past 2k replicas.
 */
export function decide(job: QuorumJob, idx: number, target: number, values: readonly JsonValue[]): Decision {
  const groups = agreeingGroups(values as JsonValue[], job.tolerance);
  const best = groups[0] ?? [];
  const alone = target === 1;
  if (best.length >= (alone ? 1 : job.quorum)) {
    // The stored value: the member that agrees with the most results (tolerance is not transitive).
    const agreements = (i: number) => values.filter((v) => resultsAgree(values[i] as JsonValue, v, job.tolerance)).length;
    const central = best.reduce((a, b) => (agreements(b) > agreements(a) ? b : a));
    const members = best.map((i) => values[i] as JsonValue);
    const verdicts = values.map((value): Verdict => {
      if (alone) return 'unchecked';
      // Valid when it agrees with any result of the accepted group.
      return verdictOn(job, members.some((m) => resultsAgree(m, value, job.tolerance)), best.length);
    });
    return { kind: 'accept', value: central, verdicts };
  }
  const remaining = target - values.length; // replicas still out or not yet handed out
  if (best.length + remaining >= job.quorum) return { kind: 'wait', target };
  const wider = values.length + (job.quorum - best.length);
  if (wider > 2 * job.replication) {
    return {
      kind: 'fail',
      error: {
        code: 'no_quorum',
        message: `input ${idx}: ${values.length} results from distinct devices, at most ${best.length} agreeing; ${job.quorum} must agree`,
        input: idx,
      },
    };
  }
  return { kind: 'wait', target: wider };
}

/** A result reported after its input was accepted, judged against the results that were accepted as valid. */
export function judgeLate(job: Pick<QuorumJob, 'replication' | 'tolerance'>, accepted: readonly JsonValue[], value: JsonValue): Exclude<Verdict, 'unchecked'> {
  const valid = accepted.some((a) => resultsAgree(a, value, job.tolerance));
  return verdictOn(job, valid, accepted.length + (valid ? 1 : 0));
}
