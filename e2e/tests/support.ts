/** Helpers shared by the end-to-end specs: the hub's HTTP API and volunteer pages in their own browser contexts. */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, type APIRequestContext, type Browser, type BrowserContext, type Page } from '@playwright/test';
import type { Job } from '@edgeswarm/shared';

export const E2E_TOKEN = 'e2e-admin-token-0123456789';
const auth = { Authorization: `Bearer ${E2E_TOKEN}` };

export async function submitJob(request: APIRequestContext, spec: Record<string, unknown>): Promise<Job> {
  const res = await request.post('/api/jobs', { data: spec, headers: auth });
  expect(res.status(), await res.text()).toBe(201);
  return (await res.json()) as Job;
}

export async function getJob(request: APIRequestContext, id: string): Promise<Job> {
  const res = await request.get(`/api/jobs/${id}`, { headers: auth });
  expect(res.status()).toBe(200);
  return (await res.json()) as Job;
}

export async function getResults(request: APIRequestContext, id: string, offset = 0, limit = 100000) {
  const res = await request.get(`/api/jobs/${id}/results?offset=${offset}&limit=${limit}`, { headers: auth });
  expect(res.status()).toBe(200);
  return (await res.json()) as { total: number; results: unknown[]; missing: number[] };
}

export async function waitForStatus(request: APIRequestContext, id: string, status: Job['status'], timeoutMs = 90_000): Promise<Job> {
  let job = await getJob(request, id);
  await expect
    .poll(async () => (job = await getJob(request, id)).status, { timeout: timeoutMs, intervals: [250] })
    .toBe(status);
  return job;
}

export async function listJobs(request: APIRequestContext): Promise<Job[]> {
  const res = await request.get('/api/jobs?limit=1000', { headers: auth });
  return ((await res.json()) as { jobs: Job[] }).jobs;
}

/** Stops whatever earlier specs left running, so this spec's job is the one volunteers pick. */
export async function cancelActiveJobs(request: APIRequestContext): Promise<void> {
  const res = await request.get('/api/jobs?limit=1000', { headers: auth });
  const { jobs } = (await res.json()) as { jobs: Job[] };
  for (const job of jobs) {
    if (job.status === 'queued' || job.status === 'running') {
      await request.post(`/api/jobs/${job.id}/cancel`, { headers: auth });
    }
  }
}

export interface Volunteer {
  context: BrowserContext;
  page: Page;
}

/** A volunteer in a browser context of its own (its own storage, so its own device identity). */
/** `prepare` runs on the new context before the page opens (init scripts, stubs). */
export async function openVolunteer(
  browser: Browser,
  query = 'autostart=1&threads=2',
  contextOptions = {},
  prepare: (context: BrowserContext) => Promise<void> = async () => {},
): Promise<Volunteer> {
  const context = await browser.newContext(contextOptions);
  await prepare(context);
  const page = await context.newPage();
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('connection-status')).toHaveText(/\bconnected\b/i);
  return { context, page };
}

export async function deviceCount(request: APIRequestContext): Promise<number> {
  const res = await request.get('/api/devices', { headers: auth });
  return ((await res.json()) as { total: number }).total;
}

/** The repository root, where `npx edgeswarm` resolves. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `npx edgeswarm ARGS` from the repository root, as a user runs it, against the e2e hub. Asynchronous on purpose:
 * a test process blocked in spawnSync stops reading the browser's protocol pipe, and the browser stalls with it.
 */
export function edgeswarm(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['edgeswarm', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, EDGESWARM_URL: 'http://127.0.0.1:3100', EDGESWARM_TOKEN: E2E_TOKEN, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A loopback port that was free a moment ago, for a hub or a cluster a spec starts itself. */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => ok(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
