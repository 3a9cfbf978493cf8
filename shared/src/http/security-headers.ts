/** Response headers every page and API answer carries, from the hub and from the Vite dev server alike. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/**
 * The job sandbox frame (/sandbox): an opaque origin (no cookies, storage or IndexedDB of the hub's
 * origin), no network of any kind (fetch, XHR, WebSocket, EventSource, WebTransport, beacons,
 * import(), importScripts), no frames; scripts only from the hub, `eval` because job code is a
 * string, and workers only from blob: URLs (the frame's runner, which inherits this policy).
 */
export const SANDBOX_CSP = [
  'sandbox allow-scripts',
  "default-src 'none'",
  "script-src 'self' 'unsafe-eval' blob:",
  'worker-src blob:',
  "connect-src 'none'",
  "frame-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export const SANDBOX_HEADERS: Readonly<Record<string, string>> = {
  ...SECURITY_HEADERS,
  'Content-Security-Policy': SANDBOX_CSP,
};
