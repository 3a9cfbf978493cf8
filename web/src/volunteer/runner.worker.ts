// Runs on a dedicated Worker thread started by the job sandbox frame: compiles job code and runs it on one input at a time, in order. It holds no socket, token or device id.
import * as Comlink from 'comlink';
import { compileJobFunction, errorText, runJobFunction, type JobFunction, type RunOutcome } from '@edgeswarm/shared';
import { lockDownGlobals } from '../sandbox/lockdown.ts';

// Before any job code: no network, storage or thread globals (the sandbox frame's CSP blocks them anyway).
lockDownGlobals(self);

export type LoadOutcome = { ok: true } | { ok: false; message: string };

/** Compiled functions by code string; a job's code never changes, and a worker rarely sees more than a few jobs. */
const compiled = new Map<string, JobFunction>();
const MAX_CACHED = 8;
let current: JobFunction | null = null;
/** The last run: runs go one after another even when their code is asynchronous. */
let previous: Promise<unknown> = Promise.resolve();

const runner = {
  /** Resolves once the module has loaded, so a run's time budget does not include the worker's start-up. */
  ping(): true {
    return true;
  },

  /** Makes `code` the function that `run` calls. Compiling evaluates the expression, so it runs under the caller's timeout too. */
  load(code: string): LoadOutcome {
    const cached = compiled.get(code);
    if (cached) {
      current = cached;
      return { ok: true };
    }
    current = null;
    try {
      const fn = compileJobFunction(code);
      if (compiled.size >= MAX_CACHED) compiled.clear();
      compiled.set(code, fn);
      current = fn;
      return { ok: true };
    } catch (err) {
      return { ok: false, message: errorText(err) };
    }
  },

  /** Runs after the previous run has settled: the page may post the next input before this one ends. */
  run(input: unknown): Promise<RunOutcome> {
    const result = previous.then(() => {
      if (!current) return { ok: false, code: 'work_error', message: 'no job code is loaded in this worker' } as const;
      return runJobFunction(current, input);
    });
    previous = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  },
};

export type Runner = typeof runner;

Comlink.expose(runner);
