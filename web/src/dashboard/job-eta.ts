// Time left per running job, estimated from how its finished count grows across successive observations (feed snapshots, page loads, polls).
import type { JobProgress, JobStatus } from '@edgeswarm/shared';

/** What the estimator needs of a Job. */
export interface EtaJob {
  id: string;
  status: JobStatus;
  progress: JobProgress;
}

interface Sample {
  atMs: number;
  /** Subtasks finished for good (completed + failed). */
  done: number;
}

interface History {
  total: number;
  samples: Sample[];
}

/** The rate is the progress over about this much time, so one late snapshot or one big batch of results does not swing the estimate. */
export const ETA_WINDOW_MS = 20_000;
/** No estimate before the samples span this long: two snapshots a fraction of a second apart say little. */
export const ETA_MIN_SPAN_MS = 2_000;
/** A job not observed for this long is forgotten (it left the listing, or the page moved on). */
export const ETA_FORGET_MS = 60_000;
/** At most about ETA_WINDOW_MS / SAMPLE_GAP_MS samples are kept per job. */
const SAMPLE_GAP_MS = 250;

const doneOf = (job: EtaJob) => job.progress.completed + job.progress.failed;

export class JobEtas {
  private readonly history = new Map<string, History>();

  /**
   * Records the jobs as seen at `atMs`. Recording the same time twice replaces the sample (so a re-render is harmless);
   * an observation older than the newest one is ignored; a count that went down or a changed total starts over.
   */
  record(atMs: number, jobs: readonly EtaJob[]): void {
    for (const job of jobs) {
      if (job.status !== 'running') {
        this.history.delete(job.id);
        continue;
      }
      const done = doneOf(job);
      let entry = this.history.get(job.id);
      const newest = entry?.samples.at(-1);
      if (entry && newest) {
        if (atMs < newest.atMs) continue;
        if (atMs === newest.atMs) entry.samples.pop();
        const last = entry.samples.at(-1);
        if ((last && done < last.done) || job.progress.total !== entry.total) entry = undefined;
      }
      if (!entry) {
        entry = { total: job.progress.total, samples: [] };
        this.history.set(job.id, entry);
      }
      const samples = entry.samples;
      // Samples closer together than the gap replace the newest one, which bounds memory however often this is called.
      const previous = samples.at(-2);
      if (previous && atMs - previous.atMs < SAMPLE_GAP_MS) samples.pop();
      samples.push({ atMs, done });
      // Keep the newest sample that is at least a window old as the start, so the span covers the whole window.
      while (samples.length > 2 && atMs - (samples[1]?.atMs ?? atMs) >= ETA_WINDOW_MS) samples.shift();
    }
    for (const [id, entry] of this.history) {
      const last = entry.samples.at(-1);
      if (!last || atMs - last.atMs > ETA_FORGET_MS) this.history.delete(id);
    }
  }

  /** Subtasks per second over the recent window, or null while there is no rate yet (too few samples, or no progress). */
  rate(id: string): number | null {
    const samples = this.history.get(id)?.samples;
    const first = samples?.[0];
    const last = samples?.at(-1);
    if (!first || !last) return null;
    const spanMs = last.atMs - first.atMs;
    if (spanMs < ETA_MIN_SPAN_MS) return null;
    const perSecond = ((last.done - first.done) * 1000) / spanMs;
    return perSecond > 0 ? perSecond : null;
  }

  /** Seconds until the job has finished every subtask at the recent rate; null when it is not running or there is no rate. */
  secondsLeft(job: EtaJob): number | null {
    if (job.status !== 'running') return null;
    const entry = this.history.get(job.id);
    if (!entry || entry.total !== job.progress.total) return null;
    const perSecond = this.rate(job.id);
    if (perSecond === null) return null;
    return Math.max(0, job.progress.total - doneOf(job)) / perSecond;
  }
}

/** "~35 s", "~2 min", "~1 h 5 min", "~2 d 3 h"; "—" without an estimate. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 1) return '< 1 s';
  if (seconds < 59.5) return `~${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `~${minutes} min`;
  if (minutes < 24 * 60) {
    const h = Math.floor(minutes / 60);
    const m = minutes % 60;
    return m === 0 ? `~${h} h` : `~${h} h ${m} min`;
  }
  const hours = Math.round(minutes / 60);
  const d = Math.floor(hours / 24);
  const h = hours % 24;
  return h === 0 ? `~${d} d` : `~${d} d ${h} h`;
}
