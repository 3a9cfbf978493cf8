/** One submitted job as the SDK gives it: progress events, its results in input order, its end (`done`), and cancelling it. */
import { isFinished, type Job, type JobProgress, type JsonValue } from '@edgeswarm/shared';
import { CancelledError, JobFailedError } from './errors.ts';
import type { HubHttp } from './hub-http.ts';
import type { SourceMaps } from './source-maps.ts';
import type { UploadReport } from './hub.ts';

/** What `progress` listeners receive: the job's counts and status, each time they change. */
export interface ProgressEvent extends JobProgress {
  status: Job['status'];
  job: Job;
}

export interface JobResult {
  index: number;
  value: JsonValue;
}

/** Polling: fast at first, slower for long jobs. */
const FIRST_POLL_MS = 100;
const MAX_POLL_MS = 1000;

export class JobHandle {
  private readonly listeners = new Set<(event: ProgressEvent) => void>();
  private finished: Promise<Job> | null = null;
  private last: Job | null;
  private lastKey = '';

  constructor(
    readonly id: string,
    private readonly http: HubHttp,
    private readonly maps: SourceMaps,
    first: Job | null = null,
    /** The blobs the run needed (bundle, shared files) and whether each was sent or already on the hub. */
    readonly uploads: readonly UploadReport[] = [],
  ) {
    this.last = first;
  }

  /** The job as last seen (null until first read). */
  get job(): Job | null {
    return this.last;
  }

  /** `progress`: called with the counts each time they change (the hub is asked a few times a second while someone listens or waits). */
  on(event: 'progress', listener: (event: ProgressEvent) => void): this {
    if (event !== 'progress') throw new TypeError(`unknown event "${String(event)}"; a job emits "progress"`);
    this.listeners.add(listener);
    void this.done.catch(() => undefined); // listening starts the polling
    return this;
  }

  off(event: 'progress', listener: (event: ProgressEvent) => void): this {
    if (event === 'progress') this.listeners.delete(listener);
    return this;
  }

  /**
   * The final Job once it completed; rejects with `JobFailedError` (its `code` is the job's error
   * code, `index` the input, the device's message at the work module's lines) or `CancelledError`.
   */
  get done(): Promise<Job> {
    this.finished ??= this.poll();
    return this.finished;
  }

  /** Reads the job now. */
  async refresh(): Promise<Job> {
    const job = await this.http.json<Job>('GET', `/api/jobs/${encodeURIComponent(this.id)}`);
    this.seen(job);
    return job;
  }

  /** Cancels the job (the hub stops its runs on every device); resolves to the job, now cancelled. */
  async cancel(): Promise<Job> {
    const job = await this.http.json<Job>('POST', `/api/jobs/${encodeURIComponent(this.id)}/cancel`);
    this.seen(job);
    return job;
  }

  /**
   * Every result, in input order, once the job completed: streamed from the hub (NDJSON), so memory
   * stays small whatever the number of inputs. Throws as `done` does when the job did not complete.
   */
  async *results(options: { signal?: AbortSignal } = {}): AsyncGenerator<JobResult> {
    await this.done;
    let index = 0;
    for await (const value of this.http.ndjson(`/api/jobs/${encodeURIComponent(this.id)}/results`, options.signal)) {
      yield { index: index++, value: value as JsonValue };
    }
  }

  private seen(job: Job): void {
    this.last = job;
    const key = `${job.status}:${job.progress.completed}:${job.progress.failed}:${job.progress.total}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    const event: ProgressEvent = { ...job.progress, status: job.status, job };
    for (const listener of this.listeners) listener(event);
  }

  private async poll(): Promise<Job> {
    let wait = FIRST_POLL_MS;
    for (;;) {
      const job = await this.refresh();
      if (isFinished(job.status)) return this.outcome(job);
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(MAX_POLL_MS, Math.round(wait * 1.5));
    }
  }

  private outcome(job: Job): Job {
    if (job.status === 'completed') return job;
    if (job.status === 'cancelled') throw new CancelledError(`job ${job.id} was cancelled`, job);
    const error = job.error ?? { code: 'work_error' as const, message: 'the job failed', input: 0 };
    const deviceMessage = this.maps.rewrite(error.message);
    throw new JobFailedError(error.code, `job ${job.id} failed (${error.code}) at input ${error.input}: ${deviceMessage}`, error.input, deviceMessage, job);
  }
}
