// A RunnerHandle that runs job code on the calling thread: for tests in Node, where there are no Web Workers. No isolation at all.
import { compileWork, errorText, runJobFunction, type LoadedWork } from '@edgeswarm/shared';
import type { RunnerHandle } from '../worker-pool.ts';

export interface InProcessRunner extends RunnerHandle {
  readonly terminated: boolean;
  readonly loads: number;
}

export function createInProcessRunner(): InProcessRunner {
  let loaded: LoadedWork | null = null;
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
    load(work) {
      loads++;
      try {
        loaded = compileWork(work);
        return Promise.resolve({ ok: true });
      } catch (err) {
        loaded = null;
        return Promise.resolve({ ok: false, message: errorText(err) });
      }
    },
    async runBatch(inputs) {
      const reports = [];
      for (const input of inputs) {
        const started = performance.now();
        const outcome = loaded
          ? await (terminated ? new Promise<never>(() => undefined) : runJobFunction(loaded.fn, input, loaded.ctx, loaded.file))
          : ({ ok: false, code: 'work_error', message: 'no job code is loaded' } as const);
        reports.push({ outcome, ms: performance.now() - started });
      }
      return reports;
    },
    terminate() {
      terminated = true;
    },
  };
}
