/**
 * The real agent's dispatch rate: a job of trivial inputs ((x) => x) through a hub process and `npm run device --
 * --devices N --threads 1` as its own process, inputs per second from the POST to the job's finishedAt (the hub's
 * clock, so the bench's polling, every 100 ms, adds nothing to the time measured and little CPU).
 */
import { performance } from 'node:perf_hooks';
import { api, sleep, spawnServer, type ServerProcess } from './harness.ts';

/** The agent (`src/agent/main.ts`) with `devices` devices of one thread each, connected to `hub`. */
export async function startAgentProcess(hub: ServerProcess, devices: number): Promise<ServerProcess> {
  const agent = await spawnServer('src/agent/main.ts', ['--hub', hub.url, '--devices', String(devices), '--threads', '1'], `Device ${devices}:`, hub.url, () => {});
  const t0 = performance.now();
  while ((await api<{ devices: number }>(hub.url, 'GET', '/api/stats')).devices < devices) {
    if (performance.now() - t0 > 30_000) throw new Error('the agent’s devices did not all connect within 30 s');
    await sleep(100);
  }
  return agent;
}

interface JobView {
  id: string;
  status: string;
  finishedAt: string | null;
  progress: { completed: number };
}

/** Runs `count` trivial inputs through the hub; inputs per second from the POST to the job's end. */
export async function agentDispatchRate(hub: ServerProcess, count: number, budgetMs: number): Promise<number> {
  const startedAt = Date.now();
  const job = await api<JobView>(hub.url, 'POST', '/api/jobs', { name: 'bench agent dispatch', code: '(x) => x', inputs: { range: { start: 0, end: count } }, reduce: 'sum' });
  for (;;) {
    await sleep(100);
    const view = await api<JobView>(hub.url, 'GET', `/api/jobs/${job.id}`);
    if (view.status === 'completed' && view.finishedAt) {
      await api(hub.url, 'DELETE', `/api/jobs/${job.id}`).catch(() => {});
      return count / ((Date.parse(view.finishedAt) - startedAt) / 1000);
    }
    if (view.status !== 'queued' && view.status !== 'running') throw new Error(`bench job ${view.status}`);
    if (Date.now() - startedAt > budgetMs) {
      await api(hub.url, 'POST', `/api/jobs/${job.id}/cancel`).catch(() => {});
      throw new Error(`bench job not done after ${budgetMs} ms (${view.progress.completed}/${count})`);
    }
  }
}
