/** Response headers every page and API answer carries, from the hub and from the Vite dev server alike. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/**
 * The volunteer page and the dashboard: scripts, connections (HTTP and the Socket.IO WebSocket) and frames only from
 * the hub itself, no plugins, and no framing by other sites. Styles may be inline (the code editor injects them).
 * The page starts no workers of its own: job code runs in the sandbox frame.
 */
export function pageCsp(extraScriptSources: readonly string[] = []): string {
  return [
    "default-src 'self'",
    ["script-src 'self'", ...extraScriptSources].join(' '),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "frame-src 'self'",
    "worker-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export const PAGE_CSP = pageCsp();

/**
 * The job sandbox frame (/sandbox): an opaque origin (no cookies, storage or IndexedDB of the hub's
 * origin), no network of any kind (fetch, XHR, WebSocket, EventSource, WebTransport, beacons,
 * import(), importScripts), no frames; scripts only from the hub, `eval` because job code is a
 * string, `wasm-unsafe-eval` because work modules compile WebAssembly (compiling, not loading: a
 * module's bytes come inside its bundle), and workers only from blob: URLs (the frame's runner,
 * which inherits this policy).
 */
export function sandboxCsp(scriptSources: readonly string[] = ["'self'"]): string {
  return [
    'sandbox allow-scripts',
    "default-src 'none'",
    ['script-src', ...scriptSources, "'unsafe-eval'", "'wasm-unsafe-eval'", 'blob:'].join(' '),
    'worker-src blob:',
    "connect-src 'none'",
    "frame-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/**
 * The frame's scripts come only from the hub's `/assets/` (where the built frame's bundle lives), so job code cannot
 * `import()` any other URL of the hub either. `origin` is the hub as the request named it (scheme://host).
 */
export function sandboxCspFor(origin: string, paths: readonly string[] = ['/assets/']): string {
  return sandboxCsp(paths.map((p) => origin + p));
}

/** With `'self'`: the policy where the hub's name is not known. */
export const SANDBOX_CSP = sandboxCsp();

export const SANDBOX_HEADERS: Readonly<Record<string, string>> = {
  ...SECURITY_HEADERS,
  'Content-Security-Policy': SANDBOX_CSP,
};
