/**
 * Child process of the active-devices and 10M-range benchmarks: `count` simulated devices of the
 * device protocol that pull leases (one more lease asked for while one runs), "run" each input by
 * waiting `itemMs` (no CPU, so the hub is what is measured), echo the input as the result, and
 * submit each lease's results in one batch. Counts disconnects; stops and reports when told to.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import { DEVICE_NAMESPACE, HEARTBEAT_INTERVAL_MS, PROTOCOL_VERSION, type Ack, type LeaseGrant, type RunResult, type SubmitReceipt } from '@edgeswarm/shared';

export interface SimStart {
  url: string;
  count: number;
  /** Threads each device reports. */
  threads: number;
  /** Inputs asked for per request. */
  slots: number;
  /** Simulated run time per input (a lease of k inputs on t threads takes k / t × itemMs). */
  itemMs: number;
}

export type SimReply =
  | { kind: 'connected'; connected: number; ms: number }
  | { kind: 'stopped'; disconnects: number; accepted: number; errors: string[] }
  | { kind: 'error'; error: string };

const CONCURRENT_CONNECTS = 50;
const ACK_TIMEOUT_MS = 30_000;
/** With no work, a device waits for `work:available` or this long before asking again. */
const IDLE_POLL_MS = 1_000;

const sockets: Socket[] = [];
const loops: Promise<void>[] = [];
let stopping = false;
let disconnects = 0;
let accepted = 0;
const errors: string[] = [];

function connectOne(req: SimStart, k: number, tag: string): Promise<Socket> {
  const auth = { protocol: PROTOCOL_VERSION, deviceId: `sim_${tag}_${k}`, kind: 'node', name: `simulated ${k}`, threads: req.threads };
  const socket = io(req.url + DEVICE_NAMESPACE, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`device ${k} did not connect in 30 s`)), 30_000);
    socket.once('hub:welcome', () => {
      clearTimeout(timer);
      // Heartbeats as real devices send them: they renew leases and report presence.
      const beat = setInterval(() => socket.emit('device:status', { state: 'working', threads: req.threads }), HEARTBEAT_INTERVAL_MS);
      socket.on('disconnect', () => {
        clearInterval(beat);
        if (!stopping) disconnects++;
      });
      ok(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
  });
}

function waitForWork(socket: Socket): Promise<void> {
  return new Promise((ok) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('work:available', done);
      ok();
    };
    const timer = setTimeout(done, IDLE_POLL_MS);
    socket.on('work:available', done);
  });
}

async function device(socket: Socket, req: SimStart): Promise<void> {
  const request = async (): Promise<LeaseGrant | null> => {
    const ack = (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('work:request', { slots: req.slots })) as Ack<LeaseGrant | null>;
    if (!ack.ok) throw new Error(`work:request: ${ack.error.code}: ${ack.error.message}`);
    return ack.data;
  };
  let pending: Promise<LeaseGrant | null> = request();
  const submits: Promise<void>[] = [];
  while (!stopping) {
    const grant: LeaseGrant | null = await pending;
    if (stopping) break;
    if (!grant) {
      await waitForWork(socket);
      pending = request();
      continue;
    }
    // Pipelining: the next lease is asked for while this one runs.
    pending = request();
    if (req.itemMs > 0) await sleep(Math.ceil((grant.items.length / req.threads) * req.itemMs));
    const results: RunResult[] = grant.items.map((item) => ({ index: item.index, ok: true, json: JSON.stringify(item.input) }));
    submits.push(
      (socket.timeout(ACK_TIMEOUT_MS).emitWithAck('work:submit', { leaseId: grant.leaseId, results }) as Promise<Ack<SubmitReceipt>>).then(
        (ack) => {
          if (!ack.ok) throw new Error(`work:submit: ${ack.error.code}: ${ack.error.message}`);
          accepted += ack.data.accepted;
        },
      ),
    );
    if (submits.length > 8) await Promise.all(submits.splice(0));
  }
  await Promise.all(submits);
}

async function start(req: SimStart): Promise<SimReply> {
  const tag = randomBytes(6).toString('hex');
  const t0 = performance.now();
  let next = 0;
  const connected: Socket[] = [];
  const lane = async (): Promise<void> => {
    while (next < req.count) connected.push(await connectOne(req, next++, tag));
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_CONNECTS, req.count) }, lane));
  for (const socket of connected) {
    loops.push(
      device(socket, req).catch((err: unknown) => {
        if (!stopping && errors.length < 10) errors.push(String(err));
      }),
    );
  }
  return { kind: 'connected', connected: connected.length, ms: performance.now() - t0 };
}

async function stop(): Promise<SimReply> {
  stopping = true;
  for (const s of sockets) s.disconnect();
  await Promise.race([Promise.all(loops), sleep(5_000)]);
  return { kind: 'stopped', disconnects, accepted, errors };
}

const send = (reply: SimReply): void => void process.send?.(reply);
process.on('message', (msg: unknown) => {
  if (msg === 'stop') {
    void stop().then((reply) => {
      send(reply);
      setTimeout(() => process.exit(0), 200);
    });
    return;
  }
  start(msg as SimStart).then(send, (err: unknown) => send({ kind: 'error', error: String(err) }));
});
process.on('disconnect', () => process.exit(0));
// Bounded: a parent that forgets us does not keep us alive.
setTimeout(() => process.exit(1), 20 * 60_000).unref();
