/**
 * The volunteer page as a device: headless Chromium (Debian's /usr/bin/chromium, or CHROMIUM_PATH)
 * opens the hub's volunteer page with 2 threads, and jobs run through it end to end (sandboxed
 * runner frames, Web Workers, the page's hub link). Skipped with a reason when there is no Chromium.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ServerProcess } from './harness.ts';

export const BROWSER_THREADS = 2;
const WEB_DIR = join(import.meta.dirname, '../../web');

/** Where Chromium is, or null when this machine has none. */
export function chromiumPath(): string | null {
  const candidate = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
  return existsSync(candidate) ? candidate : null;
}

/** Builds the web app when it has not been built (the hub serves web/dist). */
export function ensureWebBuild(): void {
  if (existsSync(join(WEB_DIR, 'dist', 'index.html'))) return;
  const build = spawnSync('npm', ['run', 'build', '-w', 'web'], { cwd: join(WEB_DIR, '..'), stdio: 'ignore' });
  if (build.status !== 0) throw new Error('npm run build -w web failed');
}

export interface BrowserDevice {
  page: Page;
  /** Milliseconds one call of `code(seed)` takes in a plain Web Worker of this Chromium (no hub, no sandbox), median of `calls`. */
  workerCallMs(code: string, calls: number): Promise<number>;
  /**
   * Inputs per second that `threads` plain Web Workers of this Chromium (no hub, no sandbox) deliver running `count`
   * calls of `code(seed)` between them at the same time: what the page's runners could do at best on this machine.
   */
  plainWorkersPerS(code: string, threads: number, count: number): Promise<number>;
  close(): Promise<void>;
}

/** One volunteer page with `threads` workers, connected to the hub. */
export async function openVolunteerPage(hub: ServerProcess, executablePath: string, threads = BROWSER_THREADS): Promise<BrowserDevice> {
  const browser: Browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    // A machine given over to the work: the page does not ease off under the CPU pressure the benchmark itself causes.
    await page.goto(`${hub.url}/?autostart=1&threads=${threads}&pressure=off`);
    await page.getByTestId('connection-status').filter({ hasText: /\bconnected\b/i }).waitFor({ timeout: 30_000 });
    /** Evaluates `script` (an expression run in the page, which this file's types, Node's, do not describe) in a blank page: no CSP, plain workers. */
    const inBlankPage = async (script: string): Promise<number> => {
      const blank = await browser.newPage();
      try {
        return await blank.evaluate<number>(script);
      } finally {
        await blank.close();
      }
    };
    const workerCallMs = (code: string, calls: number): Promise<number> => {
      const worker = `const f = (${code}); onmessage = () => { f(0); const times = []; for (let i = 0; i < ${calls}; i++) {
        const t = performance.now(); f(i); times.push(performance.now() - t); } times.sort((a, b) => a - b); postMessage(times[times.length >> 1]); };`;
      return inBlankPage(`new Promise((resolve) => {
        const w = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(worker)}])));
        w.onmessage = (e) => { resolve(e.data); w.terminate(); };
        w.postMessage(0);
      })`);
    };
    const plainWorkersPerS = (code: string, threads: number, count: number): Promise<number> => {
      const worker = `const f = (${code}); onmessage = (e) => { if (e.data === 'warm') { f(0); postMessage(0); return; }
        for (let i = 0; i < e.data; i++) f(i); postMessage(e.data); };`;
      return inBlankPage(`(async () => {
        const url = URL.createObjectURL(new Blob([${JSON.stringify(worker)}]));
        const workers = Array.from({ length: ${threads} }, () => new Worker(url));
        const call = (w, message) => new Promise((resolve) => { w.onmessage = (e) => resolve(e.data); w.postMessage(message); });
        await Promise.all(workers.map((w) => call(w, 'warm')));
        const each = Math.ceil(${count} / ${threads});
        const t0 = performance.now();
        await Promise.all(workers.map((w) => call(w, each)));
        const seconds = (performance.now() - t0) / 1000;
        for (const w of workers) w.terminate();
        return (each * ${threads}) / seconds;
      })()`);
    };
    return { page, workerCallMs, plainWorkersPerS, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/** Milliseconds one call of `code(seed)` takes on this thread of Node, median of `calls` (the same measure as `workerCallMs`). */
export function nodeCallMs(code: string, calls: number): number {
  const f = new Function(`return (${code});`)() as (seed: number) => unknown;
  f(0);
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    f(i);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1] ?? NaN;
}
