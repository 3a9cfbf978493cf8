// Main thread: one runner = one hidden job sandbox frame (/sandbox) hosting one worker; the page calls the worker with
// Comlink on a MessagePort the frame hands over, and exposes nothing to it. Terminating a runner removes its frame,
// which ends its worker at once.
import * as Comlink from 'comlink';
import type { SandboxApi } from '../sandbox/sandbox-frame.ts';
import type { Runner } from './runner.worker.ts';
import { SANDBOX_API_VERSION, SANDBOX_PATH, copyForTransfer, transferables } from '../sandbox/sandbox-api.ts';
import type { RunnerHandle } from './worker-pool.ts';

/** A frame that never answers (blocked, crashed) fails the runner's start after this long. */
const START_TIMEOUT_MS = 15_000;

export function createBrowserRunner(): RunnerHandle {
  const frame = document.createElement('iframe');
  // The hub also serves the frame with a CSP `sandbox` directive; the attribute keeps it sandboxed wherever it is served.
  frame.setAttribute('sandbox', 'allow-scripts');
  frame.setAttribute('aria-hidden', 'true');
  frame.title = 'job sandbox';
  frame.tabIndex = -1;
  frame.style.display = 'none';
  frame.src = SANDBOX_PATH;
  let terminated = false;
  const loaded = new Promise<void>((resolve) => frame.addEventListener('load', () => resolve(), { once: true }));
  document.body.appendChild(frame);
  const frameWindow = frame.contentWindow;
  if (!frameWindow) throw new Error('the job sandbox frame has no window');
  // Comlink's listener on this page's window hears only this frame, and goes with it (Comlink never removes it).
  const listening: (readonly [string, (event: Event) => void])[] = [];
  const sandbox = Comlink.wrap<SandboxApi>({
    postMessage: (message: unknown, transfer?: Transferable[]) => frameWindow.postMessage(message, '*', transfer ?? []),
    addEventListener: (type: string, listener: EventListenerOrEventListenerObject) => {
      const fromFrame = (event: Event) => {
        if ((event as MessageEvent).source !== frameWindow) return;
        if (typeof listener === 'function') listener(event);
        else listener.handleEvent(event);
      };
      listening.push([type, fromFrame]);
      self.addEventListener(type, fromFrame);
    },
    removeEventListener: () => {},
  });
  let port: MessagePort | null = null;
  const runner = (async () => {
    await loaded;
    const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the job sandbox did not start')), START_TIMEOUT_MS));
    await Promise.race([sandbox.ping(), timer]);
    const version = await sandbox.version;
    if (version !== SANDBOX_API_VERSION) throw new Error(`the job sandbox speaks version ${version}, this page ${SANDBOX_API_VERSION}`);
    port = await Promise.race([sandbox.connect(), timer]);
    if (terminated) port.close();
    return Comlink.wrap<Runner>(port);
  })();
  const ready = runner.then(() => undefined);
  ready.catch(() => undefined); // awaited by the pool on every run; this only silences an early rejection
  return {
    ready,
    // Each runner gets its own copy of the shared files' bytes, transferred (the page keeps the original).
    load: async (work) => {
      const copy = copyForTransfer(work);
      return (await runner).load(Comlink.transfer(copy, transferables(copy)));
    },
    runBatch: async (inputs) => (await runner).runBatch(inputs),
    terminate: () => {
      if (terminated) return;
      terminated = true;
      sandbox[Comlink.releaseProxy]();
      for (const [type, listener] of listening) self.removeEventListener(type, listener);
      port?.close();
      frame.remove();
    },
  };
}
