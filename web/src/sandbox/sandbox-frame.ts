// The job sandbox frame (/sandbox): served with `Content-Security-Policy: sandbox allow-scripts; connect-src 'none'; ...`,
// so it has an opaque origin (no access to the page's storage) and no network. It starts one runner worker from a blob
// URL (which inherits this policy) and hands the page a MessagePort to it (`connect`), so the page's load/runBatch calls
// go to the worker directly, not relayed by this frame's thread. It holds no socket, token or device id.
import * as Comlink from 'comlink';
import runnerSource from 'virtual:edgeswarm-runner-source';
import type { Runner } from '../volunteer/runner.worker.ts';
import { SANDBOX_API_VERSION } from './sandbox-api.ts';

// A classic worker from a blob: URL: it inherits this frame's CSP; an opaque origin cannot start module workers here.
const worker = new Worker(URL.createObjectURL(new Blob([runnerSource], { type: 'text/javascript' })), { name: 'edgeswarm-runner' });
const runner = Comlink.wrap<Runner>(worker);
const failed = new Promise<never>((_, reject) => {
  worker.addEventListener('error', (event) => reject(new Error(event.message || 'the runner worker failed to start')), { once: true });
});
failed.catch(() => undefined);

const api = {
  version: SANDBOX_API_VERSION,
  ping: () => Promise.race([runner.ping(), failed]),
  /** A port the runner answers its calls on (load, runBatch), for the page alone; one per call. */
  connect: async (): Promise<MessagePort> => {
    const channel = new MessageChannel();
    await Promise.race([runner.connect(Comlink.transfer(channel.port1, [channel.port1])), failed]);
    return Comlink.transfer(channel.port2, [channel.port2]);
  },
};
export type SandboxApi = typeof api;

// Only the page that embeds this frame talks to it (messages from any other window are ignored); the worker (job
// code) can only answer the calls it gets.
const fromParent = new WeakMap<object, (event: Event) => void>();
const parentEndpoint: Comlink.Endpoint = {
  postMessage: (message: unknown, transfer?: Transferable[]) => self.parent.postMessage(message, '*', transfer),
  addEventListener: (type: string, listener: EventListenerOrEventListenerObject) => {
    const filtered = (event: Event) => {
      if ((event as MessageEvent).source !== self.parent) return;
      if (typeof listener === 'function') listener(event);
      else listener.handleEvent(event);
    };
    fromParent.set(listener, filtered);
    self.addEventListener(type, filtered);
  },
  removeEventListener: (type: string, listener: EventListenerOrEventListenerObject) => {
    const filtered = fromParent.get(listener);
    if (filtered) self.removeEventListener(type, filtered);
  },
};
Comlink.expose(api, parentEndpoint);
