// A RunnerHandle that runs job code on the calling thread: for tests in Node, where there are no Web Workers. No isolation at all.
import { compileJobFunction, errorText, runJobFunction, type JobFunction } from '@edgeswarm/shared';
import type { RunnerHandle } from '../worker-pool.ts';

export interface InProcessRunner extends RunnerHandle {
  readonly terminated: boolean;
  readonly loads: number;
}

export function createInProcessRunner(): InProcessRunner {
  let fn: JobFunction | null = null;
  let terminated = false;
  let loads = 0;
  return {
    ready: Promise.resolve(),
    get terminated() {
      return terminated;
    },
    get loads() {
      return loads;
    },
    load(code) {
      loads++;
      try {
        fn = compileJobFunction(code);
        return Promise.resolve({ ok: true });
      } catch (err) {
        fn = null;
        return Promise.resolve({ ok: false, message: errorText(err) });
      }
    },
    run(input) {
      if (!fn) return Promise.resolve({ ok: false, code: 'work_error', message: 'no job code is loaded' });
      // A terminated worker never answers; neither does this.
      return terminated ? new Promise(() => undefined) : runJobFunction(fn, input);
    },
    terminate() {
      terminated = true;
    },
  };
}
