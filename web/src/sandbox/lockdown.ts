// Inside the runner worker, before any job code runs: replaces every global that reaches outside the worker with one
// that throws a clear error. A second barrier only: the sandbox frame's CSP (no network, opaque origin) is the real one,
// since `import()` is syntax and constructors can reach other realms.

/** Globals job code must not use: network, storage of the origin, other threads. */
export const BLOCKED_GLOBALS = [
  'fetch',
  'XMLHttpRequest',
  'WebSocket',
  'WebSocketStream',
  'EventSource',
  'WebTransport',
  'importScripts',
  'indexedDB',
  'caches',
  'cookieStore',
  'BroadcastChannel',
  'Worker',
  'SharedWorker',
  'RTCPeerConnection',
] as const;

function blockedError(name: string): Error {
  return new Error(`${name} is not available to job code: it runs in a sandbox without network or storage`);
}

/**
 * Removes `names` from `scope` and every object on its prototype chain, then defines each on `scope` as a
 * non-configurable accessor that throws, so neither `fetch(...)`, `self.fetch`, the prototype's `fetch` nor
 * redefining it works. Also removes `navigator.sendBeacon` where present. Returns the names it found.
 */
export function lockDownGlobals(scope: object, names: readonly string[] = BLOCKED_GLOBALS): string[] {
  const found: string[] = [];
  for (const name of names) {
    let present = false;
    for (let obj: object | null = scope; obj !== null; obj = Object.getPrototypeOf(obj) as object | null) {
      const descriptor = Object.getOwnPropertyDescriptor(obj, name);
      if (!descriptor) continue;
      present = true;
      if (descriptor.configurable) Reflect.deleteProperty(obj, name);
    }
    if (present) found.push(name);
    const thrower = function blocked(): never {
      throw blockedError(name);
    };
    Object.defineProperty(scope, name, { configurable: false, enumerable: false, get: thrower, set: thrower });
  }
  const nav = (scope as { navigator?: object }).navigator;
  if (nav) {
    for (let obj: object | null = nav; obj !== null; obj = Object.getPrototypeOf(obj) as object | null) {
      if (Object.getOwnPropertyDescriptor(obj, 'sendBeacon')?.configurable) Reflect.deleteProperty(obj, 'sendBeacon');
    }
  }
  return found;
}
