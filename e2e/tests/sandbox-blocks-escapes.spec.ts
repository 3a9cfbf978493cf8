// Job code cannot reach the network or the page's storage from the browser sandbox: one job per escape route, each trying
// a canary server on loopback; the canary must see no connection, each job fails with a clear error, and the page carries on.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { cancelActiveJobs, edgeswarm, getResults, openVolunteer, submitJob, waitForStatus } from './support.ts';

/** Each job: `async () => { <attempt>; return 'escaped'; }`; URL and WS stand for the canary's addresses. */
const ESCAPES: Record<string, string> = {
  fetch: `await fetch(URL)`,
  'fetch found on the prototype chain': `let o = self, f; while (o && !f) { f = Object.getOwnPropertyDescriptor(o, 'fetch')?.value; o = Object.getPrototypeOf(o); } if (!f) throw new Error('no fetch on any prototype'); await f.call(self, URL)`,
  "fetch through Function('return this')()": `await Function('return this')().fetch(URL)`,
  XMLHttpRequest: `await new Promise((ok, fail) => { const x = new XMLHttpRequest(); x.open('GET', URL); x.onload = ok; x.onerror = () => fail(new Error('xhr failed')); x.send(); })`,
  WebSocket: `await new Promise((ok, fail) => { const w = new WebSocket(WS); w.onopen = ok; w.onerror = () => fail(new Error('websocket failed')); })`,
  EventSource: `await new Promise((ok, fail) => { const s = new EventSource(URL); s.onopen = ok; s.onerror = () => fail(new Error('eventsource failed')); })`,
  importScripts: `importScripts(URL)`,
  'dynamic import()': `await import(URL)`,
  'nested Worker': `await new Promise((ok, fail) => { const w = new Worker(globalThis['URL'].createObjectURL(new Blob(['fetch(' + JSON.stringify(URL) + ').then(() => postMessage(1))']))); w.onmessage = ok; w.onerror = () => fail(new Error('nested worker failed')); })`,
  'navigator.sendBeacon': `if (typeof navigator.sendBeacon !== 'function') throw new Error('no sendBeacon'); if (!navigator.sendBeacon(URL, 'x')) throw new Error('beacon refused')`,
  WebTransport: `await new WebTransport(URL.replace('http:', 'https:')).ready`,
  "the page's localStorage": `const keys = Object.keys(localStorage); if (keys.length === 0) throw new Error('empty')`,
  IndexedDB: `await new Promise((ok, fail) => { const r = indexedDB.open('edgeswarm'); r.onsuccess = ok; r.onerror = () => fail(r.error); })`,
  'Cache Storage': `await caches.open('edgeswarm')`,
};

/** Who stops each route: the worker's locked-down globals name themselves; import() is syntax, only the frame's CSP stops it. */
const LOCKED = /is not available to job code: it runs in a sandbox without network or storage/;
const STOPPED_BY: Record<string, RegExp> = {
  fetch: LOCKED,
  'fetch found on the prototype chain': /no fetch on any prototype/,
  "fetch through Function('return this')()": LOCKED,
  XMLHttpRequest: LOCKED,
  WebSocket: LOCKED,
  EventSource: LOCKED,
  importScripts: LOCKED,
  'dynamic import()': /Failed to fetch dynamically imported module/,
  'nested Worker': LOCKED,
  'navigator.sendBeacon': /no sendBeacon/,
  WebTransport: LOCKED,
  "the page's localStorage": /localStorage is not defined/,
  IndexedDB: LOCKED,
  'Cache Storage': LOCKED,
};

let canary: Server;
let connections = 0;
const requests: string[] = [];

test.beforeAll(async () => {
  canary = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.end('reached');
  });
  canary.on('connection', () => connections++);
  await new Promise<void>((ok) => canary.listen(0, '127.0.0.1', () => ok()));
});

test.afterAll(async () => {
  await new Promise<void>((ok) => canary.close(() => ok()));
});

test('the sandbox frame is served with a CSP that forbids network and gives it an opaque origin', async ({ request }) => {
  const res = await request.get('/sandbox/');
  expect(res.status()).toBe(200);
  const csp = res.headers()['content-security-policy'] ?? '';
  expect(csp).toContain('sandbox allow-scripts');
  expect(csp).toContain("connect-src 'none'");
  expect(csp).toContain("default-src 'none'");
  expect(csp).not.toContain('allow-same-origin');
  // Scripts only from the hub's /assets/: job code cannot import() any other URL of the hub.
  const scriptSrc = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src')) ?? '';
  expect(scriptSrc).toMatch(/^script-src http:\/\/[^ ]+\/assets\/ 'unsafe-eval' 'wasm-unsafe-eval' blob:$/);
});

test('job code reaches neither the network nor storage by any route, and the volunteer carries on', async ({ browser, request }) => {
  test.setTimeout(120_000);
  await cancelActiveJobs(request);
  const { port } = canary.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/canary`;
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=2');
  try {
    const jobs = [];
    for (const [route, attempt] of Object.entries(ESCAPES)) {
      const code = `async () => { const URL = ${JSON.stringify(url)}; const WS = ${JSON.stringify(url.replace('http:', 'ws:'))}; ${attempt}; return 'escaped'; }`;
      jobs.push({ route, job: await submitJob(request, { name: `escape: ${route}`, code, inputs: [0], maxAttempts: 1, timeoutMs: 10_000 }) });
    }
    for (const { route, job } of jobs) {
      const failed = await waitForStatus(request, job.id, 'failed', 60_000);
      expect(failed.error?.code, route).toBe('work_error');
      expect(failed.error?.message, route).toMatch(STOPPED_BY[route] ?? /^$/);
    }
    // The canary never saw a connection, let alone a request.
    expect(requests).toEqual([]);
    expect(connections).toBe(0);
    // The page's own storage is intact and the volunteer works on.
    expect(await volunteer.page.evaluate(() => Object.keys(localStorage).length)).toBeGreaterThan(0);
    const next = await submitJob(request, { name: 'after the escapes', code: '(n) => n * 3', inputs: [1, 2, 3] });
    await waitForStatus(request, next.id, 'completed', 30_000);
    expect((await getResults(request, next.id)).results).toEqual([3, 6, 9]);
    await expect(volunteer.page.getByTestId('connection-status')).toHaveText(/\bconnected\b/i);
  } finally {
    await volunteer.context.close();
  }
});

/**
 * A work module whose input picks an escape route. Each hides its global from the bundler's check (which refuses
 * `fetch` and friends in a module's own code) and reports what stopped it instead of failing.
 */
const ESCAPING_MODULE = `
const routes = {
  fetch: (url) => globalThis['fe' + 'tch'](url),
  xhr: (url) => { const X = self['XMLHttp' + 'Request']; const x = new X(); x.open('GET', url); x.send(); return new Promise((ok, fail) => { x.onload = ok; x.onerror = () => fail(new Error('xhr failed')); }); },
  websocket: (url) => new self['Web' + 'Socket'](url.replace('http:', 'ws:')),
  'import() through Function': (url) => new Function('u', 'return imp' + 'ort(u)')(url),
  'WebAssembly from the network': (url) => WebAssembly.compileStreaming(globalThis['fe' + 'tch'](url)),
  indexedDB: () => self['indexed' + 'DB'].open('edgeswarm'),
  localStorage: () => self['local' + 'Storage'].getItem('edgeswarm.deviceId'),
};
export default async function escape({ route, url }) {
  try {
    await routes[route](url);
    return 'escaped';
  } catch (err) {
    return String(err && err.message ? err.message : err);
  }
}
`;

test('a work module reaches neither the network nor storage either, whatever it hides from the bundler', async ({ browser, request }) => {
  test.setTimeout(120_000);
  await cancelActiveJobs(request);
  const { port } = canary.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/canary-module`;
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-escape-module-'));
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=2');
  try {
    writeFileSync(join(dir, 'escape.mjs'), ESCAPING_MODULE);
    const routes = ['fetch', 'xhr', 'websocket', 'import() through Function', 'WebAssembly from the network', 'indexedDB', 'localStorage'];
    writeFileSync(join(dir, 'inputs.json'), JSON.stringify(routes.map((route) => ({ route, url }))));
    const run = await edgeswarm(['run', join(dir, 'escape.mjs'), '--inputs', join(dir, 'inputs.json'), '--timeout-ms', '10000'], {
      EDGESWARM_CACHE_DIR: join(dir, 'cache'),
    });
    expect(run.status, run.stderr).toBe(0);
    const outcomes = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as string);
    expect(outcomes).toHaveLength(routes.length);
    for (const [i, outcome] of outcomes.entries()) {
      expect(outcome, routes[i]).not.toBe('escaped');
      expect(outcome, routes[i]).toMatch(/is not available to job code|Failed to fetch dynamically imported module|Cannot read properties of undefined|is not a function|is not a constructor/);
    }
    expect(requests.filter((r) => r.includes('canary-module'))).toEqual([]);
    expect(connections).toBe(0);
  } finally {
    await volunteer.context.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Job code that hooks what the runner's port to the page is used through (MessagePort's `postMessage`, MessageEvent's
 * `data` getter), on its first input, to get hold of that port and post to the page's thread; each later input reports
 * how many times a hook saw the port. The runner uses built-ins saved before any job code ran, so none ever does.
 */
const PORT_GRAB = `(n) => {
  const g = globalThis;
  if (!g.hooked) {
    g.hooked = true;
    g.seen = 0;
    const post = MessagePort.prototype.postMessage;
    MessagePort.prototype.postMessage = function (...args) { g.seen++; return post.apply(this, args); };
    const data = Object.getOwnPropertyDescriptor(MessageEvent.prototype, 'data');
    Object.defineProperty(MessageEvent.prototype, 'data', { configurable: true, get() { if (this.target instanceof MessagePort) g.seen++; return data.get.call(this); } });
  }
  return g.seen;
}`;

test("job code that hooks MessagePort and MessageEvent never gets hold of its runner's port to the page", async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=1');
  try {
    const job = await submitJob(request, { name: 'port grab', code: PORT_GRAB, inputs: { range: { start: 0, end: 40 } } });
    await waitForStatus(request, job.id, 'completed', 30_000);
    const { results } = await getResults(request, job.id);
    expect(results).toHaveLength(40);
    expect(results).toEqual(results.map(() => 0));
  } finally {
    await volunteer.context.close();
  }
});
