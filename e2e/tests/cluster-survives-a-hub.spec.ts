// `npm run cluster -- --hubs 2`: two Chromium volunteers and the dashboard through the load balancer; one hub is killed
// mid-job, the job still completes with every result, and the dashboard keeps showing the network.
import { spawn, type ChildProcess } from 'node:child_process';
import { expect, test, type APIRequestContext } from '@playwright/test';
import type { DeviceInfo, Job } from '@edgeswarm/shared';
import { REPO_ROOT, freePort } from './support.ts';

interface Cluster {
  child: ChildProcess;
  url: string;
  token: string;
  pids: Map<string, number>;
  output(): string;
}


/** `npm run cluster -- --hubs 2` as a user runs it, in a process group of its own (stopped as a whole at the end). */
async function startCluster(): Promise<Cluster> {
  const port = await freePort();
  const child = spawn('npm', ['run', 'cluster', '--', '--hubs', '2', '--port', String(port), '--host', '127.0.0.1'], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await expect
    .poll(() => output, { timeout: 90_000, message: 'the cluster to start' })
    .toContain('Cluster ready')
    .catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\ncluster output:\n${output}`);
    });
  const token = /dashboard#token=(\S+)/.exec(output)?.[1] ?? '';
  const pids = new Map([...output.matchAll(/^(hub\d+): pid (\d+)/gm)].map((m) => [m[1] ?? '', Number(m[2])]));
  return { child, url: `http://127.0.0.1:${port}`, token, pids, output: () => output };
}

/** SIGTERM to the cluster's process group; resolves once `npm run cluster` has stopped its hubs and database. */
async function stopCluster(cluster: Cluster): Promise<void> {
  const { child } = cluster;
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid, 'SIGTERM');
  await expect.poll(() => cluster.output(), { timeout: 30_000, message: 'the cluster to stop' }).toContain('cluster stopped');
  await exited;
}

test('a job completes through the load balancer when one of two hubs is killed, and the dashboard keeps showing the network', async ({ browser, request }) => {
  test.setTimeout(240_000);
  const cluster = await startCluster();
  const auth = { Authorization: `Bearer ${cluster.token}` };
  const api = async <T>(req: APIRequestContext, method: 'get' | 'post', path: string, data?: unknown): Promise<T> => {
    const res = await req[method](cluster.url + path, { headers: auth, ...(data === undefined ? {} : { data }) });
    expect(res.ok(), `${method} ${path}: ${res.status()}`).toBe(true);
    return (await res.json()) as T;
  };
  const contexts = [];
  try {
    expect([...cluster.pids.keys()]).toEqual(['hub1', 'hub2']);
    const dashboardContext = await browser.newContext();
    contexts.push(dashboardContext);
    const dashboard = await dashboardContext.newPage();
    await dashboard.goto(`${cluster.url}/dashboard#token=${cluster.token}`);
    await expect(dashboard.getByTestId('stat-hubs')).toHaveText('2');

    for (let i = 0; i < 2; i++) {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(`${cluster.url}/?autostart=1&threads=2`);
      await expect(page.getByTestId('connection-status')).toHaveText(/\bconnected\b/i);
    }
    await expect(dashboard.getByTestId('device-row')).toHaveCount(2);

    const n = 600;
    const job = await api<Job>(request, 'post', '/api/jobs', {
      name: 'through the load balancer',
      code: '(n) => { const end = Date.now() + 15; while (Date.now() < end) {} return n * 2; }',
      inputs: { range: { start: 0, end: n } },
      reduce: 'sum',
    });
    await expect.poll(async () => (await api<Job>(request, 'get', `/api/jobs/${job.id}`)).progress.completed, { timeout: 60_000 }).toBeGreaterThan(60);

    // Kill the hub that serves the dashboard's devices first listed (with two hubs, most likely one of the volunteers').
    const { devices } = await api<{ devices: DeviceInfo[] }>(request, 'get', '/api/devices');
    const victim = devices[0]?.hub ?? 'hub1';
    const pid = cluster.pids.get(victim);
    expect(pid, `pid of ${victim}`).toBeDefined();
    process.kill(pid ?? 0, 'SIGKILL');

    // A request in flight to the killed hub fails until the load balancer has taken it out (about 2 s): a client
    // of a load balancer asks again.
    const status = async () => (await api<Job>(request, 'get', `/api/jobs/${job.id}`).catch(() => null))?.status ?? 'unreachable';
    await expect.poll(status, { timeout: 120_000, intervals: [500] }).toBe('completed');
    const done = await api<Job>(request, 'get', `/api/jobs/${job.id}`);
    expect(done.result).toBe(n * (n - 1));
    const page = await api<{ results: number[]; missing: number[] }>(request, 'get', `/api/jobs/${job.id}/results?limit=${n}`);
    expect(page.missing).toEqual([]);
    expect(page.results).toEqual(Array.from({ length: n }, (_, i) => i * 2));

    // The dashboard carries on through the surviving hub: one hub, both volunteers on it, the job completed.
    const survivor = victim === 'hub1' ? 'hub2' : 'hub1';
    await expect(dashboard.getByTestId('stat-hubs')).toHaveText('1', { timeout: 60_000 });
    await expect(dashboard.getByTestId('device-hub')).toHaveText([survivor, survivor], { timeout: 60_000 });
    await expect(dashboard.locator(`[data-testid="job-row"][data-job-id="${job.id}"]`)).toHaveAttribute('data-status', 'completed');
  } catch (err) {
    console.log(`cluster output:\n${cluster.output()}`);
    throw err;
  } finally {
    for (const context of contexts) await context.close();
    await stopCluster(cluster);
  }
});
