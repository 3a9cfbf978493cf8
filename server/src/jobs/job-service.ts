/** Submitting, reading, cancelling and deleting jobs: the domain behind the HTTP API. */
import { inputCount, parseJobSpec, timeModel, type Job } from '@edgeswarm/shared';
import { ADMIN, mayAccess, type Principal } from '../auth/principal.ts';
import { checkJobCode } from './code-check.ts';
import { HubError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import { noFaults, type Faults } from '../faults.ts';
import { MissingBlobError, type Page, type ResultsPage } from '../store/job-store.ts';
import type { JobStore } from '../store/async-store.ts';

export interface JobEvents {
  jobSubmitted(job: Job): void;
  jobStopped(jobId: string): void;
}

export class JobService {
  constructor(
    private readonly store: JobStore,
    private readonly clock: Clock,
    private readonly events: JobEvents,
    private readonly faults: Faults = noFaults,
  ) {}

  /** Validates an untrusted JobSpec, parses (never runs) its code, checks the submitter's limits, and stores it. */
  async submit(body: unknown, principal: Principal = ADMIN): Promise<Job> {
    const spec = parseJobSpec(body);
    if (!spec.ok) throw new HubError('invalid_job', spec.message);
    if (spec.value.code !== null) {
      const code = checkJobCode(spec.value.code);
      if (!code.ok) throw new HubError('invalid_code', code.message);
    }
    const now = this.clock.now();
    if (principal.kind === 'submitter') await this.checkLimits(principal, inputCount(spec.value.inputs), now);
    let job: Job;
    try {
      job = await this.store.createJob(spec.value, now, principal.kind === 'submitter' ? principal.name : null);
    } catch (err) {
      if (err instanceof MissingBlobError) throw new HubError('invalid_job', err.message);
      throw err;
    }
    this.faults.reached('job:committed');
    this.events.jobSubmitted(job);
    return job;
  }

  /** A job `principal` may see; another submitter's job is not found. */
  async get(id: string, principal: Principal = ADMIN): Promise<Job> {
    const job = await this.store.getJob(id);
    if (!job || !mayAccess(principal, job.owner)) throw notFound(id);
    await this.withTiming([job]);
    return job;
  }

  async list(offset: number, limit: number, principal: Principal = ADMIN): Promise<Page<Job>> {
    const page = await this.store.listJobs(offset, limit, principal.kind === 'submitter' ? principal.name : undefined);
    await this.withTiming(page.items);
    return page;
  }

  /** Adds each job's time model (`Job.timing`), measured up to now for jobs still running. */
  private async withTiming(jobs: Job[]): Promise<void> {
    const started = jobs.filter((j) => j.startedAt !== null);
    if (started.length === 0) return;
    const stats = await this.store.jobTimingStats(started.map((j) => j.id));
    const now = this.clock.now();
    for (const job of started) {
      const devices = stats.get(job.id);
      if (!devices) continue;
      const timing = timeModel({
        startedAt: job.startedAt === null ? null : Date.parse(job.startedAt),
        finishedAt: job.finishedAt === null ? null : Date.parse(job.finishedAt),
        now,
        completed: job.progress.completed,
        verified: job.verify !== 'none',
        devices,
      });
      if (timing) job.timing = timing;
    }
  }

  async results(id: string, offset: number, limit: number, principal: Principal = ADMIN): Promise<ResultsPage> {
    await this.get(id, principal);
    const page = await this.store.getResults(id, offset, limit);
    if (!page) throw notFound(id);
    return page;
  }

  async cancel(id: string, principal: Principal = ADMIN): Promise<Job> {
    await this.get(id, principal);
    const outcome = await this.store.cancelJob(id, this.clock.now());
    if (outcome === 'not_found') throw notFound(id);
    const job = await this.get(id);
    if (outcome === 'already_finished') {
      throw new HubError('conflict', `job ${id} has already finished (status "${job.status}") and cannot be cancelled`);
    }
    this.events.jobStopped(id);
    return job;
  }

  /** A submitter's limits: inputs per job (400), jobs at once and jobs per minute (429 with Retry-After). */
  private async checkLimits(principal: Extract<Principal, { kind: 'submitter' }>, inputs: number, now: number): Promise<void> {
    const { maxRunning, maxInputs, perMinute } = principal.limits;
    if (inputs > maxInputs) {
      throw new HubError('invalid_job', `inputs: this token may submit at most ${maxInputs} inputs per job; this job has ${inputs}`);
    }
    const activity = await this.store.submitterActivity(principal.name, now - MINUTE_MS);
    if (activity.active >= maxRunning) {
      throw new HubError(
        'rate_limited',
        `this token may have at most ${maxRunning} jobs queued or running at once; wait for one to finish or cancel one`,
        RUNNING_RETRY_SECONDS,
      );
    }
    if (activity.recent.length >= perMinute) {
      const oldest = activity.recent[activity.recent.length - perMinute] ?? now;
      const wait = Math.max(1, Math.ceil((oldest + MINUTE_MS - now) / 1000));
      throw new HubError('rate_limited', `this token may submit at most ${perMinute} jobs a minute; try again in ${wait} s`, wait);
    }
  }

  async delete(id: string, principal: Principal = ADMIN): Promise<void> {
    await this.get(id, principal);
    if (!(await this.store.deleteJob(id))) throw notFound(id);
    this.events.jobStopped(id);
  }
}

const MINUTE_MS = 60_000;
/** When a submitter has too many jobs at once, when to ask again. */
const RUNNING_RETRY_SECONDS = 10;

const notFound = (id: string) => new HubError('not_found', `no job with id "${id}"`);
