// Main thread: starts one runner Worker and wraps it with Comlink (the worker entry is runner.worker.ts).
import * as Comlink from 'comlink';
import type { Runner } from './runner.worker.ts';
import type { RunnerHandle } from './worker-pool.ts';

export function createBrowserRunner(): RunnerHandle {
  const worker = new Worker(new URL('./runner.worker.ts', import.meta.url), {
    type: 'module',
    name: 'edgeswarm-runner',
  });
  const runner = Comlink.wrap<Runner>(worker);
  const ready = new Promise<void>((resolve, reject) => {
    worker.addEventListener(
      'error',
      (event) => reject(new Error(event.message || 'the worker script failed to load')),
      { once: true },
    );
    runner.ping().then(() => resolve(), reject);
  });
  ready.catch(() => undefined); // awaited by the pool on every run; this only silences an early rejection
  return {
    ready,
    load: (code) => runner.load(code),
    run: (input) => runner.run(input),
    terminate: () => worker.terminate(),
  };
}
