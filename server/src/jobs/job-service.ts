/** Submitting, reading, cancelling and deleting jobs: the domain behind the HTTP API. */
import { parseJobSpec, type Job } from '@edgeswarm/shared';
import { checkJobCode } from './code-check.ts';
import { HubError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import { noFaults, type Faults } from '../faults.ts';
import type { JobStore, Page, ResultsPage } from '../store/job-store.ts';

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

  /** Validates an untrusted JobSpec, parses (never runs) its code, and stores it. */
  submit(body: unknown): Job {
    const spec = parseJobSpec(body);
    if (!spec.ok) throw new HubError('invalid_job', spec.message);
    const code = checkJobCode(spec.value.code);
    if (!code.ok) throw new HubError('invalid_code', code.message);
    const job = this.store.createJob(spec.value, this.clock.now());
    this.faults.reached('job:committed');
    this.events.jobSubmitted(job);
    return job;
  }

  get(id: string): Job {
    const job = this.store.getJob(id);
    if (!job) throw notFound(id);
    return job;
  }

  list(offset: number, limit: number): Page<Job> {
    return this.store.listJobs(offset, limit);
  }

  results(id: string, offset: number, limit: number): ResultsPage {
    const page = this.store.getResults(id, offset, limit);
    if (!page) throw notFound(id);
    return page;
  }

  cancel(id: string): Job {
    const outcome = this.store.cancelJob(id, this.clock.now());
    if (outcome === 'not_found') throw notFound(id);
    const job = this.get(id);
    if (outcome === 'already_finished') {
      throw new HubError('conflict', `job ${id} has already finished (status "${job.status}") and cannot be cancelled`);
    }
    this.events.jobStopped(id);
    return job;
  }

  delete(id: string): void {
    if (!this.store.deleteJob(id)) throw notFound(id);
    this.events.jobStopped(id);
  }
}

const notFound = (id: string) => new HubError('not_found', `no job with id "${id}"`);
