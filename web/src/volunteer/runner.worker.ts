// Runs on a dedicated Worker thread started by the job sandbox frame: compiles job code and runs it on batches of inputs,
// one input at a time, in order. The frame calls it on the worker's own channel; the page calls it on a MessagePort the
// frame hands over (`connect`), so batches do not pass through the frame. It holds no socket, token or device id.
import * as Comlink from 'comlink';
import { compileWork, errorText, runJobFunction, type LoadedWork, type RunOutcome, type WorkSource } from '@edgeswarm/shared';
import { lockDownGlobals } from '../sandbox/lockdown.ts';

// Before any job code: no network, storage or thread globals (the sandbox frame's CSP blocks them anyway).
lockDownGlobals(self);

// The built-ins the page's port is used through, saved before any job code runs: job code shares this realm and
// could replace them on their prototypes to get hold of the port (`this` in a patched `postMessage`, `target` in a
// patched `data` getter) and post to the page's thread at will.
const apply = Reflect.apply;
const postOnPort = MessagePort.prototype.postMessage;
const startPort = MessagePort.prototype.start;
const listenOn = EventTarget.prototype.addEventListener;
const dataOf = Object.getOwnPropertyDescriptor(MessageEvent.prototype, 'data')?.get;

/**
 * `port` as Comlink's endpoint, through the saved built-ins only: Comlink (and any job code that hooks what it calls)
 * never sees the port or a real event, only `{ data }`.
 */
function sealedEndpoint(port: MessagePort): Comlink.Endpoint {
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => void apply(postOnPort, port, [message, transfer ?? []]),
    addEventListener: (type: string, listener: EventListenerOrEventListenerObject) => {
      const deliver = (event: Event) => {
        const data: unknown = dataOf ? apply(dataOf, event, []) : undefined;
        const copy = { data } as unknown as MessageEvent;
        if (typeof listener === 'function') listener(copy);
        else listener.handleEvent(copy);
      };
      apply(listenOn, port, [type, deliver]);
    },
    // Comlink removes its listener only when the page releases the runner; the page closes the port instead.
    removeEventListener: () => {},
    start: () => void apply(startPort, port, []),
  };
}

export type LoadOutcome = { ok: true } | { ok: false; message: string };

/** One input's outcome in a batch, and its run time in this worker (ms). */
export interface BatchReport {
  outcome: RunOutcome;
  ms: number;
}

/** The job loaded last: the pool loads a job's work when this worker switches to it. */
let current: LoadedWork | null = null;
/** The last batch: batches run one after another even when their code is asynchronous. */
let previous: Promise<unknown> = Promise.resolve();

const runner = {
  /** Resolves once the module has loaded, so a run's time budget does not include the worker's start-up. */
  ping(): true {
    return true;
  },

  /** Answers the same calls on `port` too: the frame hands the other end to the page that embeds it, and no one else. */
  connect(port: MessagePort): true {
    Comlink.expose(runner, sealedEndpoint(port));
    return true;
  },

  /**
   * Makes `work` (inline code, or a work module's bundle, with the job's shared files, whose buffers
   * were transferred to this worker) what `runBatch` calls. Compiling evaluates the code (a bundle's
   * top level, its WebAssembly modules), so it runs under the caller's timeout too.
   */
  load(work: WorkSource): LoadOutcome {
    current = null;
    try {
      current = compileWork(work);
      return { ok: true };
    } catch (err) {
      return { ok: false, message: errorText(err) };
    }
  },

  /** Runs a batch of inputs one after the other (after the previous call has settled): one message each way for all of them. */
  runBatch(inputs: unknown[]): Promise<BatchReport[]> {
    const result = previous.then(async () => {
      const reports: BatchReport[] = [];
      for (const input of inputs) {
        const started = performance.now();
        const outcome: RunOutcome = current
          ? await runJobFunction(current.fn, input, current.ctx, current.file)
          : { ok: false, code: 'work_error', message: 'no job code is loaded in this worker' };
        reports.push({ outcome, ms: performance.now() - started });
      }
      return reports;
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
