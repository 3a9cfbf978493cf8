// A Chromium volunteer and a Node agent run a TypeScript work module (a local helper, an npm package, WebAssembly) with
// two shared files, submitted with `npx edgeswarm run`: exact results, each blob fetched once per device, and a reloaded
// page that takes the blobs from its IndexedDB instead of the hub.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type APIRequestContext } from '@playwright/test';
import type { DeviceInfo, Job } from '@edgeswarm/shared';
import { E2E_TOKEN, REPO_ROOT, cancelActiveJobs, edgeswarm as npxEdgeswarm, openVolunteer } from './support.ts';
import { FIXTURE_CFG, THROW_LINE, expectedResult, fixtureData } from '../fixtures/full-module/expected.ts';

const ROOT = REPO_ROOT;
const HUB = 'http://127.0.0.1:3100';
const auth = { Authorization: `Bearer ${E2E_TOKEN}` };

let dir: string;
let agent: ChildProcess | null = null;

test.beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-e2e-modules-'));
  writeFileSync(join(dir, 'data.bin'), fixtureData());
  writeFileSync(join(dir, 'cfg.json'), JSON.stringify(FIXTURE_CFG));
  writeFileSync(join(dir, 'negative.json'), '[-1]');
});

test.afterAll(() => {
  if (agent && agent.exitCode === null) agent.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** `npx edgeswarm ARGS` with this spec's cache folder. */
const edgeswarm = (args: string[]) => npxEdgeswarm(args, { EDGESWARM_CACHE_DIR: join(dir, 'cache') });

async function blobBytesServed(request: APIRequestContext): Promise<number> {
  const text = await (await request.get('/metrics', { headers: auth })).text();
  return Number(/^edgeswarm_blob_bytes_served_total (\S+)$/m.exec(text)?.[1] ?? NaN);
}

async function devices(request: APIRequestContext): Promise<DeviceInfo[]> {
  return ((await (await request.get('/api/devices?limit=1000', { headers: auth })).json()) as { devices: DeviceInfo[] }).devices;
}

const shared = () => ['--shared', `data=${join(dir, 'data.bin')}`, '--shared', `cfg=${join(dir, 'cfg.json')}`];

test('a browser and a Node agent run a work module with an npm package, WebAssembly and shared files; each fetches every blob once', async ({ browser, request }) => {
  test.setTimeout(180_000);
  await cancelActiveJobs(request);
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=2');
  const browserId = await volunteer.page.evaluate(() => localStorage.getItem('edgeswarm.deviceId'));
  agent = spawn(process.execPath, ['--import', 'tsx', 'server/src/agent/main.ts', '--hub', HUB, '--threads', '1', '--name', 'e2e agent', '--id-file', join(dir, 'agent-id.json')], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  try {
    await expect.poll(async () => (await devices(request)).filter((d) => d.state !== undefined && d.name === 'e2e agent').length).toBe(1);
    const data = fixtureData();
    const before = await blobBytesServed(request);
    // One job for each kind of device, so that each surely runs one: run together, the faster one fetches its blobs
    // and takes every input (winning the tail copies of the other's held inputs) before the other has its blobs.
    // The sum job runs on the agent while the page is paused.
    const pause = volunteer.page.getByTestId('pause-button');
    await pause.click();
    await expect(pause).toHaveText('Resume');
    const inputs = 1200;
    const sum = await edgeswarm(['run', 'e2e/fixtures/full-module/work.ts', '--range', `0:${inputs}`, '--reduce', 'sum', ...shared()]);
    expect(sum.stderr).toContain('completed');
    expect(sum.status, sum.stderr).toBe(0);
    let expected = 0;
    for (let n = 0; n < inputs; n++) expected += expectedResult(n, data);
    expect(sum.stdout).toBe(`${expected}\n`);
    expect((await devices(request)).some((d) => d.kind === 'node' && d.name === 'e2e agent' && d.completed > 0)).toBe(true);

    // The agent leaves; the collect job runs on the page: every result, in input order. The browser compiled the
    // WebAssembly under the sandbox's CSP.
    const exited = new Promise((resolve) => agent?.once('exit', resolve));
    agent.kill('SIGTERM');
    await exited;
    await pause.click();
    await expect(pause).toHaveText('Pause');
    const collect = await edgeswarm(['run', 'e2e/fixtures/full-module/work.ts', '--range', '0:120', ...shared()]);
    expect(collect.status, collect.stderr).toBe(0);
    expect(collect.stderr.match(/already on the hub/g)).toHaveLength(3);
    expect(collect.stdout.trimEnd().split('\n').map(Number)).toEqual(Array.from({ length: 120 }, (_, n) => expectedResult(n, data)));
    expect((await devices(request)).some((d) => d.kind === 'browser' && (browserId === null || d.id === browserId) && d.completed > 0)).toBe(true);

    // Each device fetched each blob once for both jobs: two full sets of the three blobs, no more.
    const jobs = ((await (await request.get('/api/jobs?limit=2', { headers: auth })).json()) as { jobs: Job[] }).jobs;
    const set = (jobs[0]?.bundle?.size ?? 0) + (jobs[0]?.shared ?? []).reduce((s, f) => s + f.size, 0);
    expect(set).toBeGreaterThan(3 * 1024 * 1024);
    expect((await blobBytesServed(request)) - before).toBe(2 * set);
    await expect(volunteer.page.getByTestId('stored-data-bytes')).toHaveAttribute('data-bytes', String(set));

    // The dashboard's job view shows the bundle's hash and size and each shared file with its size.
    const dashboard = await volunteer.context.newPage();
    await dashboard.goto(`/dashboard#token=${E2E_TOKEN}`);
    const latest = jobs[0];
    await dashboard.locator(`[data-testid="job-row"][data-job-id="${latest?.id}"]`).click();
    const view = dashboard.getByTestId('job-view');
    await expect(view.getByTestId('job-bundle')).toHaveAttribute('title', latest?.bundle?.blob ?? 'no bundle');
    await expect(view.getByTestId('job-code')).toContainText(/work module sha256:[0-9a-f]{12}… \(\d+\.\d KiB\)/);
    await expect(view.locator('[data-testid="job-shared-file"][data-name="data"]')).toContainText('data 3.0 MiB (bytes)');
    await expect(view.locator('[data-testid="job-shared-file"][data-name="cfg"]')).toContainText(/cfg \d+ B \(JSON\)/);
    await dashboard.close();

    // The reloaded page (a new connection) takes every blob from its IndexedDB, not from the hub.
    await volunteer.page.reload();
    await expect(volunteer.page.getByTestId('connection-status')).toHaveText(/\bconnected\b/i);
    const afterReload = await blobBytesServed(request);
    const third = await edgeswarm(['run', 'e2e/fixtures/full-module/work.ts', '--range', '0:20', '--reduce', 'sum', ...shared()]);
    expect(third.status, third.stderr).toBe(0);
    let expected20 = 0;
    for (let n = 0; n < 20; n++) expected20 += expectedResult(n, data);
    expect(third.stdout).toBe(`${expected20}\n`);
    expect(await blobBytesServed(request)).toBe(afterReload);

    // An error thrown in the browser's sandbox is reported at the module's own line.
    const failing = await edgeswarm(['run', 'e2e/fixtures/full-module/work.ts', '--inputs', join(dir, 'negative.json'), '--max-attempts', '1', ...shared()]);
    expect(failing.status).toBe(1);
    expect(failing.stderr).toMatch(new RegExp(`RangeError: negative input -1\\n {4}at work \\(e2e/fixtures/full-module/work\\.ts:${THROW_LINE}:\\d+\\)`));
  } finally {
    await volunteer.context.close();
  }
});

test('the volunteer sees how much job data the page keeps, and clears it', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=1');
  try {
    const run = await edgeswarm(['run', 'e2e/fixtures/full-module/work.ts', '--range', '0:3', '--reduce', 'sum', ...shared()]);
    expect(run.status, run.stderr).toBe(0);
    const stored = volunteer.page.getByTestId('stored-data-bytes');
    await expect.poll(async () => Number(await stored.getAttribute('data-bytes'))).toBeGreaterThan(3 * 1024 * 1024);
    await expect(volunteer.page.getByTestId('stored-data')).toContainText(/of 512\.0 MiB \(3 files\)/);
    await volunteer.page.getByTestId('clear-stored-data').click();
    await expect(stored).toHaveAttribute('data-bytes', '0');
    await expect(volunteer.page.getByTestId('clear-stored-data')).toBeDisabled();
    // The page itself still holds them while connected: a job of the same module fetches nothing.
    const before = await blobBytesServed(request);
    const again = await edgeswarm(['run', 'e2e/fixtures/full-module/work.ts', '--range', '0:2', '--json', ...shared()]);
    expect(again.status, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout.trim().split('\n').at(-1) ?? '{}') as Job).progress.completed).toBe(2);
    expect(await blobBytesServed(request)).toBe(before);
  } finally {
    await volunteer.context.close();
  }
});
