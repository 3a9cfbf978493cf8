/** Inside a job worker thread: compiles each job's code in its own sandbox and runs the inputs of each batch in order, reporting progress (shared memory) and results (messages) to the pool. */
import { parentPort, workerData } from 'node:worker_threads';
import { errorText, type RunOutcome } from '@edgeswarm/shared';
import { JobSandbox } from './job-sandbox.ts';
import { PROGRESS, RESULTS_FLUSH_MS, sharedNow, type BatchRequest, type FromWorker, type RunReport } from './worker-protocol.ts';

const port = parentPort;
if (!port) throw new Error('job-runner.ts runs only inside a worker thread');
const progress = new Float64Array((workerData as { progress: SharedArrayBuffer }).progress);

/** Sandboxes of inline code without shared files, by code string (a worker rarely sees more than a few jobs); a work module or shared files are compiled each time the pool sends them. */
const sandboxes = new Map<string, JobSandbox>();
const MAX_CACHED = 8;
let current: JobSandbox | null = null;

// Job code may leave a rejected promise unhandled; in the browser that only logs, here it would kill the thread.
process.on('unhandledRejection', () => {});

/** Writes what runs now for the pool to read (batch -1: nothing); `version` is odd meanwhile (a seqlock). */
function publish(batch: number, position?: number, startedAt?: number): void {
  progress[PROGRESS.version] = (progress[PROGRESS.version] ?? 0) + 1;
  progress[PROGRESS.batch] = batch;
  if (position !== undefined && startedAt !== undefined) {
    progress[PROGRESS.position] = position;
    progress[PROGRESS.startedAt] = startedAt;
  }
  progress[PROGRESS.version] = (progress[PROGRESS.version] ?? 0) + 1;
}

/** Tells the pool which input of which batch runs from now on. */
function started(batch: number, position: number): void {
  publish(batch, position, sharedNow());
}

/** Tells the pool that no input runs now (between inputs, or done with the batch). */
function idle(): void {
  publish(-1);
}

/** Loads the batch's work when it carries some; an outcome for every input when that fails. */
function load(request: BatchRequest): RunOutcome | null {
  const work = request.work;
  if (work === null) return current ? null : { ok: false, code: 'work_error', message: 'no job code is loaded in this worker' };
  const key = work.bundle === null && work.shared.length === 0 ? work.code : null;
  current = key === null ? null : (sandboxes.get(key) ?? null);
  if (current) return null;
  const compiled = JobSandbox.compile(work, request.timeoutMs);
  if (!compiled.ok) {
    return compiled.timedOut
      ? { ok: false, code: 'timeout', message: `the run took longer than timeoutMs (${request.timeoutMs} ms)` }
      : { ok: false, code: 'work_error', message: `the job code failed to compile: ${compiled.message}` };
  }
  if (sandboxes.size >= MAX_CACHED) sandboxes.clear();
  if (key !== null) sandboxes.set(key, compiled.sandbox);
  current = compiled.sandbox;
  return null;
}

async function handle(request: BatchRequest): Promise<void> {
  started(request.id, 0);
  const t0 = performance.now();
  const failed = load(request);
  if (failed) {
    idle();
    const ms = performance.now() - t0;
    port?.postMessage({ type: 'results', id: request.id, from: 0, runs: request.inputs.map(() => ({ outcome: failed, ms })), end: true, loaded: false } satisfies FromWorker);
    return;
  }
  const sandbox = current;
  let from = 0;
  let runs: RunReport[] = [];
  let sentAt = performance.now();
  for (let i = 0; i < request.inputs.length; i++) {
    if (i > 0) started(request.id, i);
    const begin = performance.now();
    let outcome: RunOutcome;
    try {
      outcome = sandbox
        ? await sandbox.run(request.inputs[i] ?? 'null', { timeoutMs: request.timeoutMs, syncTimeoutMs: request.vmTimeout ? request.timeoutMs : null })
        : { ok: false, code: 'work_error', message: 'no job code is loaded in this worker' };
    } catch (err) {
      outcome = { ok: false, code: 'work_error', message: errorText(err) };
    }
    const end = performance.now();
    idle();
    runs.push({ outcome, ms: end - begin });
    const last = i === request.inputs.length - 1;
    if (last || end - sentAt >= RESULTS_FLUSH_MS) {
      port?.postMessage({ type: 'results', id: request.id, from, runs, end: last, loaded: true } satisfies FromWorker);
      from = i + 1;
      runs = [];
      sentAt = end;
    }
  }
}

// The pool may send the next batch before this one ends (so the thread never waits for it): batches go one after another.
let previous: Promise<void> = Promise.resolve();
port.on('message', (request: BatchRequest) => {
  previous = previous.then(() =>
    handle(request).catch((err: unknown) => {
      current = null;
      const outcome: RunOutcome = { ok: false, code: 'work_error', message: errorText(err) };
      port.postMessage({ type: 'results', id: request.id, from: 0, runs: request.inputs.map(() => ({ outcome, ms: 0 })), end: true, loaded: false } satisfies FromWorker);
    }),
  );
});
port.postMessage({ type: 'ready' } satisfies FromWorker);
