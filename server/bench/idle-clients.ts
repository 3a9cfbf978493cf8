/**
 * Child process of the idle-devices benchmark, so that the server's RSS is measured alone: connects
 * `count` idle Socket.IO clients (devices of the protocol, or plain clients of the echo server),
 * reports over IPC once all are connected, and disconnects them and exits when told to.
 */
import { randomBytes } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { DEVICE_NAMESPACE, PROTOCOL_VERSION } from '@edgeswarm/shared';

export interface IdleRequest {
  url: string;
  count: number;
  /** `device`: the device handshake, connected once `hub:welcome` arrives; `plain`: no auth. */
  kind: 'device' | 'plain';
}

export type IdleReply = { connected: number; ms: number } | { error: string };

const CONCURRENT = 50;
const sockets: Socket[] = [];

function connectOne(url: string, kind: IdleRequest['kind'], k: number, tag: string): Promise<void> {
  const auth =
    kind === 'device'
      ? { protocol: PROTOCOL_VERSION, deviceId: `idle_${tag}_${k}`, kind: 'node', name: `idle device ${k}`, threads: 1 }
      : {};
  const socket = io(url + DEVICE_NAMESPACE, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(socket);
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`client ${k} did not connect in 15 s`)), 15_000);
    socket.once('hub:welcome', () => {
      clearTimeout(timer);
      ok();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
  });
}

async function connectAll(req: IdleRequest): Promise<IdleReply> {
  const tag = randomBytes(6).toString('hex');
  const t0 = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < req.count) await connectOne(req.url, req.kind, next++, tag);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT, req.count) }, lane));
  return { connected: sockets.filter((s) => s.connected).length, ms: performance.now() - t0 };
}

const send = (reply: IdleReply): void => void process.send?.(reply);
process.on('message', (msg: unknown) => {
  if (msg === 'close') {
    for (const s of sockets) s.disconnect();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  connectAll(msg as IdleRequest).then(send, (err: unknown) => send({ error: String(err) }));
});
process.on('disconnect', () => process.exit(0));
// Bounded: a parent that forgets us does not keep us alive.
setTimeout(() => process.exit(1), 120_000).unref();
