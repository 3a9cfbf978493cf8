/** The agent against real hubs (in-process and as a process, killed and restarted) and the CLI as a child process: devices, results, reconnects, exit codes. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { CONNECT_REFUSALS, DEVICE_NAMESPACE, type DeviceInfo, type Job } from '@edgeswarm/shared';
import { startTestHub, waitFor, type TestHub } from '../../test/support/test-hub.ts';
import { SERVER_DIR, freePort, startHubProcess, type HubProcess } from '../../test/support/hub-process.ts';
import { Agent, TRUST_WARNING } from './agent.ts';

const agents: Agent[] = [];
const hubs: TestHub[] = [];
const processes: (HubProcess | { child: ChildProcess })[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop(0)));
  for (const p of processes.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(hubs.splice(0).map((h) => h.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'edgeswarm-agent-'));
  dirs.push(d);
  return d;
};

function startAgent(hubUrl: string, devices: number, threads: number, log: string[] = []): Agent {
  const agent = new Agent({
    config: { hubUrls: [hubUrl], threads, devices, name: 'agent test', memoryMb: 64 },
    deviceIds: Array.from({ length: devices }, (_, k) => `agent_test_device_${k}_${Math.random().toString(36).slice(2, 10)}`),
    log: (line) => log.push(line),
    onFatal: (message) => log.push(`FATAL ${message}`),
    reconnectDelayMs: 100,
    reconnectDelayMaxMs: 500,
  });
  agents.push(agent);
  agent.start();
  return agent;
}

type Api = <T>(method: string, path: string, body?: unknown) => Promise<T>;

async function finished(api: Api, id: string, timeoutMs = 20_000): Promise<Job> {
  return waitFor(async () => {
    const job = await api<Job>('GET', `/api/jobs/${id}`).catch(() => undefined);
    return job && ['completed', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
  }, timeoutMs, `job ${id} to finish`);
}

async function results(api: Api, id: string, count: number): Promise<{ results: unknown[]; missing: number[] }> {
  return api('GET', `/api/jobs/${id}/results?offset=0&limit=${count}`);
}

function spawnAgent(args: string[], nodeFlags: string[] = []): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', 'src/agent/main.ts', ...args], {
    cwd: SERVER_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  processes.push({ child });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return { child, output: () => output, exited };
}

describe('the device agent against a real hub', () => {
  it('runs 3 node devices on one pool of 2 threads and completes a squares job with correct results', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const api: Api = async (method, path, body) => (await hub.api(method, path, body)).body as never;
    startAgent(hub.url, 3, 2);
    const listed = await waitFor(async () => {
      const { devices } = await api<{ devices: DeviceInfo[] }>('GET', '/api/devices');
      return devices.length === 3 ? devices : undefined;
    }, 10_000, '3 devices');
    expect(listed.map((d) => d.kind)).toEqual(['node', 'node', 'node']);
    expect(listed.map((d) => d.threads)).toEqual([1, 1, 1]);
    expect(new Set(listed.map((d) => d.name))).toEqual(new Set(['agent test #1', 'agent test #2', 'agent test #3']));

    const job = await api<Job>('POST', '/api/jobs', { code: '(n) => n * n', inputs: { range: { start: 0, end: 5000 } } });
    const done = await finished(api, job.id);
    expect(done.status).toBe('completed');
    expect(done.progress).toEqual({ total: 5000, completed: 5000, failed: 0 });
    const page = await results(api, job.id, 5000);
    expect(page.missing).toEqual([]);
    expect(page.results).toEqual(Array.from({ length: 5000 }, (_, i) => i * i));
    const after = await api<{ devices: DeviceInfo[] }>('GET', '/api/devices');
    expect(after.devices.reduce((sum, d) => sum + d.completed, 0)).toBe(5000);
  });

  it('pauses its devices while other processes load the machine above --max-load, and resumes when the load drops', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    let load = 50; // per core: far above --max-load
    const log: string[] = [];
    const agent = new Agent({
      config: { hubUrls: [hub.url], threads: 1, devices: 1, name: 'busy box', memoryMb: 64, maxLoad: 0.8, onBattery: 'run' },
      deviceIds: [`agent_load_${Math.random().toString(36).slice(2, 10)}`],
      log: (line) => log.push(line),
      machine: { load1: () => load, cores: () => 1, power: () => 'ac' },
      watchIntervalMs: 100,
    });
    agents.push(agent);
    agent.start();
    const api: Api = async (method, path, body) => (await hub.api(method, path, body)).body as never;
    await waitFor(async () => ((await api<{ devices: DeviceInfo[] }>('GET', '/api/devices')).devices[0]?.state === 'paused' ? true : undefined), 10_000, 'the device to report paused');
    expect(log).toContain('pausing: the load of other processes is 50.00 per core, above --max-load 0.8');
    const { id } = await api<Job>('POST', '/api/jobs', { code: '(n) => n * 2', inputs: [1, 2, 3], reduce: 'sum' });
    await new Promise((r) => setTimeout(r, 1000));
    expect((await api<Job>('GET', `/api/jobs/${id}`)).progress.completed).toBe(0);
    load = 0;
    expect((await finished(api, id)).result).toBe(12);
    expect(log).toContain('resuming: the machine is free again');
  });

  it('reconnects after the hub is killed and restarted on the same port, and finishes the job', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const token = 'agent-test-token-0123456789';
    const startHub = async () => {
      const hub = startHubProcess(['--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--token', token]);
      processes.push(hub);
      await hub.ready;
      return hub;
    };
    const api: Api = async (method, path, body) => {
      const res = await fetch(url + path, { method, headers: { Authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      return (await res.json()) as never;
    };
    const first = await startHub();
    const log: string[] = [];
    startAgent(url, 1, 2, log);
    await waitFor(() => (log.includes('device: connected to the hub') ? true : undefined), 10_000, 'the agent to connect');

    // About 1 ms of work per input, so the job is still running when the hub dies.
    const code = '(n) => { const end = Date.now() + 1; while (Date.now() < end); return n * 3; }';
    const job = await api<Job>('POST', '/api/jobs', { code, inputs: { range: { start: 0, end: 2000 } } });
    await waitFor(async () => ((await api<Job>('GET', `/api/jobs/${job.id}`)).progress.completed >= 100 ? true : undefined), 10_000, 'progress');
    first.child.kill('SIGKILL');
    await first.exited;
    await startHub();

    const done = await finished(api, job.id, 25_000);
    expect(done.status).toBe('completed');
    expect(done.progress.completed).toBe(2000);
    const page = await results(api, job.id, 2000);
    expect(page.missing).toEqual([]);
    expect(page.results).toEqual(Array.from({ length: 2000 }, (_, i) => i * 3));
    expect(log).toContain('device: reconnected to the hub');
  });
});

describe('npm run device (the CLI as a process)', () => {
  it('prints each device with the hub and its id and the trust warning, works, keeps its id, and exits 0 on SIGTERM', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const idFile = join(tempDir(), 'ids.json');
    const agent = spawnAgent(['--hub', hub.url, '--threads', '1', '--devices', '2', '--id-file', idFile, '--name', 'cli box']);
    await waitFor(() => (agent.output().match(/connected to the hub/g)?.length === 2 ? true : undefined), 15_000, 'both devices to connect');
    const ids = (JSON.parse(readFileSync(idFile, 'utf8')) as { deviceIds: string[] }).deviceIds;
    expect(ids).toHaveLength(2);
    for (const [k, id] of ids.entries()) {
      expect(agent.output()).toMatch(new RegExp(`^Device ${k + 1}: id ${id}, .*hub ${hub.url.replaceAll('.', '\\.')}$`, 'm'));
    }
    expect(agent.output()).toContain(TRUST_WARNING);
    const { body } = await hub.api<{ devices: DeviceInfo[] }>('GET', '/api/devices');
    expect(body.devices.map((d) => [d.id, d.kind, d.name]).sort()).toEqual(
      [
        [ids[0], 'node', 'cli box #1'],
        [ids[1], 'node', 'cli box #2'],
      ].sort(),
    );
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n + 1', inputs: [1, 2, 3], reduce: 'sum' });
    const done = await finished(async (m, p) => (await hub.api(m, p)).body as never, job.id);
    expect(done.result).toBe(9);

    const stoppedAt = performance.now();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(performance.now() - stoppedAt).toBeLessThan(5_000);
  });

  it('a second agent started from the same folder runs as other devices and says so; each removes its locks on exit', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const dir = tempDir();
    const idFile = join(dir, 'ids.json');
    const first = spawnAgent(['--hub', hub.url, '--threads', '1', '--id-file', idFile]);
    await waitFor(() => (first.output().includes('connected to the hub') ? true : undefined), 15_000, 'the first agent to connect');
    const second = spawnAgent(['--hub', hub.url, '--threads', '1', '--id-file', idFile]);
    await waitFor(() => (second.output().includes('connected to the hub') ? true : undefined), 15_000, 'the second agent to connect');
    expect(second.output()).toContain(`1 id(s) of ${idFile} belong to another agent running from this folder: this one runs as other devices`);
    const { body } = await hub.api<{ devices: DeviceInfo[] }>('GET', '/api/devices');
    expect(new Set(body.devices.map((d) => d.id)).size).toBe(2);
    for (const agent of [first, second]) {
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.lock'))).toEqual([]);
  });

  it("runs under Node's permission model: reads anywhere, writes only its id file's folder, starts its worker threads", async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const dir = tempDir();
    // The flags of `npm run device:locked`, with the id file's folder as the one writable place.
    const agent = spawnAgent(['--hub', hub.url, '--threads', '1', '--id-file', join(dir, 'ids.json')], [
      '--experimental-permission',
      '--allow-fs-read=*',
      `--allow-fs-write=${dir}`,
      '--allow-worker',
    ]);
    await waitFor(() => (agent.output().includes('connected to the hub') ? true : undefined), 20_000, 'the locked-down agent to connect');
    expect(agent.output()).toContain('Permission is an experimental feature');
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n * 5', inputs: [1, 2, 3], reduce: 'sum' });
    const done = await finished(async (m, p) => (await hub.api(m, p)).body as never, job.id);
    expect(done.result).toBe(30);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
  });

  it('exits 2 naming a bad flag', async () => {
    const agent = spawnAgent(['--hub', 'http://127.0.0.1:9', '--threads', 'many']);
    expect(await agent.exited).toBe(2);
    expect(agent.output()).toContain('--threads must be an integer');
  });

  it('exits 1 with a clear message when the hub speaks another protocol version', async () => {
    const http = createServer();
    const io = new Server(http);
    io.of(DEVICE_NAMESPACE).use((_socket, next) => {
      next(Object.assign(new Error(CONNECT_REFUSALS.serverTooOld), { data: { code: CONNECT_REFUSALS.serverTooOld, message: 'old', hubProtocol: 0 } }));
    });
    await new Promise<void>((ok) => http.listen(0, '127.0.0.1', () => ok()));
    try {
      const { port } = http.address() as AddressInfo;
      const agent = spawnAgent(['--hub', `http://127.0.0.1:${port}`, '--threads', '1', '--id-file', join(tempDir(), 'ids.json')]);
      expect(await agent.exited).toBe(1);
      expect(agent.output()).toContain('the hub speaks protocol 0');
      expect(agent.output()).toContain('the hub is older than this agent');
    } finally {
      await io.close();
    }
  });
});
