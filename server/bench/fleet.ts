/**
 * Active-devices and big-job benchmarks: a fleet of simulated devices in a child process
 * (bench/sim-devices.ts) runs whole jobs through a hub process; the figures are the job's
 * subtasks per second from submission to completion, the fleet's disconnects, and the hub's peak RSS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { Job } from '@edgeswarm/shared';
import type { SimReply, SimStart } from './sim-devices.ts';
import { api, peakRssKib, sleep, type ServerProcess } from './harness.ts';

export class SimFleet {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((ok) => child.once('exit', () => ok()));
  }

  /** Forks the fleet and connects every device; rejects unless all of them connect. */
  static async start(options: SimStart): Promise<SimFleet> {
    const child = fork(resolve(import.meta.dirname, 'sim-devices.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const fleet = new SimFleet(child);
    try {
      const reply = await fleet.ask(options, 120_000);
      if (reply.kind === 'error') throw new Error(reply.error);
      if (reply.kind !== 'connected' || reply.connected !== options.count) {
        throw new Error(`only ${reply.kind === 'connected' ? reply.connected : 0} of ${options.count} simulated devices connected`);
      }
      return fleet;
    } catch (err) {
      await fleet.kill();
      throw err;
    }
  }

  /** Stops every device; the disconnects counted while they worked (not the ones of stopping). */
  async stop(): Promise<{ disconnects: number; errors: string[] }> {
    try {
      const reply = await this.ask('stop', 15_000);
      if (reply.kind !== 'stopped') throw new Error(`the fleet answered ${JSON.stringify(reply)} to stop`);
      return { disconnects: reply.disconnects, errors: reply.errors };
    } finally {
      await this.kill();
    }
  }

  private ask(message: SimStart | 'stop', timeoutMs: number): Promise<SimReply> {
    return new Promise<SimReply>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`simulated devices did not answer in ${timeoutMs / 1000} s`)), timeoutMs);
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        fail(new Error(`simulated devices exited with ${code}`));
      };
      this.child.once('exit', onExit);
      this.child.once('message', (m) => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        ok(m as SimReply);
      });
      this.child.send(message);
    });
  }

  private async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    if (this.child.connected) this.child.disconnect();
    await this.exited;
    clearTimeout(timer);
  }
}

export interface JobRun {
  seconds: number;
  subtasksPerSecond: number;
  job: Job;
}

/** Submits `(x) => x` over `0..total` with `reduce: sum` and waits for it to complete; checks the sum. */
export async function runRangeJob(
  hub: ServerProcess,
  total: number,
  timeoutMs: number,
  onPoll: () => void = () => {},
): Promise<JobRun> {
  const t0 = performance.now();
  const created = await api<Job>(hub.url, 'POST', '/api/jobs', {
    name: `bench range ${total}`,
    code: '(x) => x',
    inputs: { range: { start: 0, end: total } },
    reduce: 'sum',
  });
  for (;;) {
    await sleep(100);
    onPoll();
    const job = await api<Job>(hub.url, 'GET', `/api/jobs/${created.id}`);
    if (job.status === 'completed') {
      const seconds = (performance.now() - t0) / 1000;
      const expected = (total * (total - 1)) / 2;
      if (job.result !== expected) throw new Error(`the job's sum is ${JSON.stringify(job.result)}, expected ${expected}`);
      return { seconds, subtasksPerSecond: total / seconds, job };
    }
    if (job.status !== 'queued' && job.status !== 'running') throw new Error(`the job ended ${job.status}: ${JSON.stringify(job.error)}`);
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`the job did not complete in ${timeoutMs / 1000} s (${job.progress.completed}/${total} done)`);
    }
  }
}

/** Peak RSS of the hub process in MiB, as the kernel counts it (VmHWM). */
export function hubPeakRssMib(hub: ServerProcess): number {
  return peakRssKib(hub.pid) / 1024;
}
