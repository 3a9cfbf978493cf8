/**
 * Dispatch benchmark: trivial subtasks per second through a hub process, pulled by simulated devices
 * that echo their inputs (one request always in flight while submitting), against raw Socket.IO
 * round trips per second (8 in flight per client) to a minimal echo server process, with the same
 * number of clients. Also the server process's CPU time per subtask / per round trip.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import { DEVICE_NAMESPACE, PROTOCOL_VERSION, type Ack, type LeaseGrant, type RunResult, type SubmitReceipt } from '@edgeswarm/shared';
import { api, cpuMicros, sleep, type ServerProcess } from './harness.ts';

export interface Window {
  /** Operations (subtasks or round trips) per second during the window. */
  perSecond: number;
  /** Server CPU microseconds per operation during the window. */
  cpuUsPerOp: number;
}

/** Devices report this many threads: the hub lets a connection hold threads × 128 inputs. */
const DEVICE_THREADS = 4;
const SLOTS = 256;
const ECHO_IN_FLIGHT = 8;
const ACK_TIMEOUT_MS = 10_000;

function connect(url: string, auth: Record<string, unknown>): Socket {
  return io(url + DEVICE_NAMESPACE, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
}

async function connectAll(url: string, n: number, auth: (k: number) => Record<string, unknown>): Promise<Socket[]> {
  const sockets = Array.from({ length: n }, (_, k) => connect(url, auth(k)));
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((ok, fail) => {
          const timer = setTimeout(() => fail(new Error('connect timed out')), 15_000);
          s.once('hub:welcome', () => {
            clearTimeout(timer);
            ok();
          });
          s.once('connect_error', (err) => {
            clearTimeout(timer);
            fail(err);
          });
        }),
    ),
  );
  return sockets;
}

/**
 * Runs `loops` until stopped; after `warmupMs` counts operations and the server's CPU time for
 * `measureMs`. Every loop ends at the deadline, and all of them are awaited (bounded by ack timeouts).
 */
async function measureWindow(
  server: ServerProcess,
  counter: { n: number },
  stop: { flag: boolean },
  loops: Promise<void>[],
  warmupMs: number,
  measureMs: number,
): Promise<Window> {
  let failure: unknown = null;
  const all = Promise.all(loops.map((l) => l.catch((err: unknown) => void (failure ??= err))));
  await sleep(warmupMs);
  const n0 = counter.n;
  const cpu0 = cpuMicros(server.pid);
  const t0 = performance.now();
  await sleep(measureMs);
  const n1 = counter.n;
  const cpu1 = cpuMicros(server.pid);
  const seconds = (performance.now() - t0) / 1000;
  stop.flag = true;
  await all;
  if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  const ops = n1 - n0;
  if (ops <= 0) throw new Error('no operation completed during the window');
  return { perSecond: ops / seconds, cpuUsPerOp: (cpu1 - cpu0) / ops };
}

/** Subtasks per second through the hub with `n` simulated devices, and the hub's CPU per subtask. */
export async function measureHubDispatch(hub: ServerProcess, n: number, warmupMs: number, measureMs: number): Promise<Window> {
  const job = await api<{ id: string }>(hub.url, 'POST', '/api/jobs', {
    name: `bench dispatch n${n}`,
    code: '(x) => x',
    inputs: { range: { start: 0, end: 10_000_000 } },
    reduce: 'sum',
  });
  const tag = randomBytes(6).toString('hex');
  const sockets = await connectAll(hub.url, n, (k) => ({
    protocol: PROTOCOL_VERSION,
    deviceId: `bench_${tag}_${k}`,
    kind: 'node',
    name: `bench device ${k}`,
    threads: DEVICE_THREADS,
  }));
  const counter = { n: 0 };
  const stop = { flag: false };
  const device = async (socket: Socket): Promise<void> => {
    const request = async (): Promise<LeaseGrant | null> => {
      const ack = (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('work:request', { slots: SLOTS })) as Ack<LeaseGrant | null>;
      if (!ack.ok) throw new Error(`work:request: ${ack.error.code}: ${ack.error.message}`);
      return ack.data;
    };
    const submits: Promise<void>[] = [];
    let pending: Promise<LeaseGrant | null> | null = request();
    while (pending) {
      const grant: LeaseGrant | null = await pending;
      // Pipelining: the next request goes before this grant's results.
      pending = stop.flag ? null : request();
      if (!grant) {
        await sleep(5);
        continue;
      }
      const results: RunResult[] = grant.items.map((item) => ({ index: item.index, ok: true, json: JSON.stringify(item.input) }));
      submits.push(
        (socket.timeout(ACK_TIMEOUT_MS).emitWithAck('work:submit', { leaseId: grant.leaseId, results }) as Promise<Ack<SubmitReceipt>>).then(
          (ack) => {
            if (!ack.ok) throw new Error(`work:submit: ${ack.error.code}: ${ack.error.message}`);
            counter.n += ack.data.accepted;
          },
        ),
      );
      if (submits.length > 64) await Promise.all(submits.splice(0));
    }
    await Promise.all(submits);
  };
  try {
    return await measureWindow(hub, counter, stop, sockets.map(device), warmupMs, measureMs);
  } finally {
    for (const s of sockets) s.disconnect();
    await api(hub.url, 'POST', `/api/jobs/${job.id}/cancel`).catch(() => {});
  }
}

/** Raw Socket.IO round trips per second with `n` clients, 8 in flight each, and the echo server's CPU per round trip. */
export async function measureEcho(echo: ServerProcess, n: number, warmupMs: number, measureMs: number): Promise<Window> {
  const sockets = await connectAll(echo.url, n, () => ({}));
  const counter = { n: 0 };
  const stop = { flag: false };
  const payload = { slots: SLOTS };
  const loop = async (socket: Socket): Promise<void> => {
    while (!stop.flag) {
      await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('echo', payload);
      counter.n++;
    }
  };
  try {
    const loops = sockets.flatMap((s) => Array.from({ length: ECHO_IN_FLIGHT }, () => loop(s)));
    return await measureWindow(echo, counter, stop, loops, warmupMs, measureMs);
  } finally {
    for (const s of sockets) s.disconnect();
  }
}
