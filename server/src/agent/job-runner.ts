/** Inside a job worker thread: compiles each job's code in its own sandbox and runs one input per request, in order, answering the pool. */
import { parentPort } from 'node:worker_threads';
import { errorText, type RunOutcome } from '@edgeswarm/shared';
import { JobSandbox } from './job-sandbox.ts';
import type { FromWorker, ToWorker } from './worker-protocol.ts';

const port = parentPort;
if (!port) throw new Error('job-runner.ts runs only inside a worker thread');

/** Sandboxes of inline code without shared files, by code string (a worker rarely sees more than a few jobs); a work module or shared files are compiled each time the pool sends them. */
const sandboxes = new Map<string, JobSandbox>();
const MAX_CACHED = 8;
let current: JobSandbox | null = null;

// Job code may leave a rejected promise unhandled; in the browser that only logs, here it would kill the thread.
process.on('unhandledRejection', () => {});

async function handle(request: ToWorker): Promise<FromWorker> {
  const started = performance.now();
  const work = request.work;
  if (work !== null) {
    const key = work.bundle === null && work.shared.length === 0 ? work.code : null;
    current = key === null ? null : (sandboxes.get(key) ?? null);
    if (!current) {
      const compiled = JobSandbox.compile(work, request.timeoutMs);
      if (!compiled.ok) {
        const outcome: RunOutcome = compiled.timedOut
          ? { ok: false, code: 'timeout', message: `the run took longer than timeoutMs (${request.timeoutMs} ms)` }
          : { ok: false, code: 'work_error', message: `the job code failed to compile: ${compiled.message}` };
        return { type: 'done', id: request.id, loaded: false, outcome };
      }
      if (sandboxes.size >= MAX_CACHED) sandboxes.clear();
      if (key !== null) sandboxes.set(key, compiled.sandbox);
      current = compiled.sandbox;
    }
  }
  if (!current) {
    return { type: 'done', id: request.id, loaded: false, outcome: { ok: false, code: 'work_error', message: 'no job code is loaded in this worker' } };
  }
  const left = request.timeoutMs - (performance.now() - started);
  const syncTimeoutMs = request.vmTimeout ? Math.max(1, left) : null;
  const outcome = await current.run(request.inputJson, { timeoutMs: request.timeoutMs, syncTimeoutMs });
  return { type: 'done', id: request.id, loaded: true, outcome };
}

// The pool may send the next run before this one ends (so the thread never waits for it): runs go one after another.
let previous: Promise<void> = Promise.resolve();
port.on('message', (request: ToWorker) => {
  previous = previous.then(() =>
    handle(request)
      .catch((err: unknown): FromWorker => {
        current = null;
        return { type: 'done', id: request.id, loaded: false, outcome: { ok: false, code: 'work_error', message: errorText(err) } };
      })
      .then((reply) => port.postMessage(reply)),
  );
});
port.postMessage({ type: 'ready' } satisfies FromWorker);
