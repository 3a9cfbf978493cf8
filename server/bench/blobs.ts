/**
 * Blob delivery benchmark: one 64 MiB shared file to 10 simulated devices at once (each holds a lease of the job and
 * pulls the blob chunk by chunk over Socket.IO, 4 chunks in flight, as the page and the agent do), the time until all
 * have it, and the hub's event-loop lag meanwhile (prom-client's monitor, reset by a scrape just before).
 */
import { createHash, randomBytes } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { DEVICE_NAMESPACE, PROTOCOL_VERSION, limits, type Ack, type BlobChunk, type LeaseGrant } from '@edgeswarm/shared';
import { BENCH_TOKEN, api, type ServerProcess } from './harness.ts';

export interface Delivery {
  /** Uploading the blob (one PUT of 64 MiB): its time and the hub's event-loop lag meanwhile. */
  uploadSeconds: number;
  uploadLagP99Ms: number;
  seconds: number;
  /** Bytes handed to devices per second, all devices together. */
  mibPerSecond: number;
  lagP99Ms: number;
  lagMaxMs: number;
}

const IN_FLIGHT = 4;

/** Some figures of one scrape of /metrics (each scrape also resets the event-loop lag monitor). */
async function metrics(hub: ServerProcess, names: string[]): Promise<number[]> {
  const res = await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${BENCH_TOKEN}` } });
  const text = await res.text();
  return names.map((name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN));
}

/** Uploads `bytes` as a blob; returns its hex digest. */
export async function uploadBlob(hub: ServerProcess, bytes: Uint8Array): Promise<string> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  const res = await fetch(`${hub.url}/api/blobs/${hex}`, { method: 'PUT', headers: { authorization: `Bearer ${BENCH_TOKEN}` }, body: bytes });
  if (!res.ok) throw new Error(`PUT blob: ${res.status} ${await res.text()}`);
  return hex;
}

function connectDevice(hub: ServerProcess, k: number): Promise<Socket> {
  const socket = io(hub.url + DEVICE_NAMESPACE, {
    auth: { protocol: PROTOCOL_VERSION, deviceId: `bench_blob_${k}_${randomBytes(4).toString('hex')}`, kind: 'node', name: 'bench', threads: 1 },
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  return new Promise((ok, fail) => {
    socket.once('connect', () => ok(socket));
    socket.once('connect_error', fail);
  });
}

/** A device that takes one input, pulls the whole blob, and reports a result. */
async function fetchAsDevice(socket: Socket, hex: string, size: number): Promise<void> {
  let grant: LeaseGrant | null = null;
  while (!grant) {
    const ack = (await socket.timeout(10_000).emitWithAck('work:request', { slots: 1 })) as Ack<LeaseGrant | null>;
    if (!ack.ok) throw new Error(`work:request: ${ack.error.message}`);
    grant = ack.data;
    if (!grant) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const chunks = Math.ceil(size / limits.BLOB_CHUNK_BYTES);
  let next = 0;
  let received = 0;
  const lane = async () => {
    while (next < chunks) {
      const chunk = next++;
      const ack = (await socket.timeout(30_000).emitWithAck('blob:read', { blob: hex, chunk })) as Ack<BlobChunk>;
      if (!ack.ok) throw new Error(`blob:read: ${ack.error.message}`);
      received += (ack.data.bytes as Uint8Array).byteLength;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  if (received !== size) throw new Error(`received ${received} bytes of ${size}`);
  const results = grant.items.map((item) => ({ index: item.index, ok: true, json: String(size) }));
  await socket.timeout(10_000).emitWithAck('work:submit', { leaseId: grant.leaseId, results });
}

/** One round: a job sharing a fresh `bytes`-byte blob, run by `devices` devices that each pull it whole. */
export async function measureDelivery(hub: ServerProcess, devices = 10, bytes: number = limits.MAX_BLOB_BYTES): Promise<Delivery> {
  const blob = randomBytes(bytes);
  await metrics(hub, []); // the scrape resets the lag histogram
  const u0 = performance.now();
  const hex = await uploadBlob(hub, blob);
  const uploadSeconds = (performance.now() - u0) / 1000;
  const [uploadP99 = NaN] = await metrics(hub, ['nodejs_eventloop_lag_p99_seconds']);
  const sockets = await Promise.all(Array.from({ length: devices }, (_, k) => connectDevice(hub, k)));
  try {
    await metrics(hub, []); // the scrape resets the lag histogram
    const job = await api<{ id: string }>(hub.url, 'POST', '/api/jobs', {
      name: 'bench blob delivery',
      code: '(x, ctx) => ctx.shared.big.length',
      inputs: { range: { start: 0, end: devices } },
      shared: { big: `sha256:${hex}` },
      timeoutMs: 600_000,
    });
    const t0 = performance.now();
    await Promise.all(sockets.map((socket) => fetchAsDevice(socket, hex, bytes)));
    const seconds = (performance.now() - t0) / 1000;
    const [p99 = NaN, max = NaN] = await metrics(hub, ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds']);
    await api(hub.url, 'DELETE', `/api/jobs/${job.id}`).catch(() => {});
    return {
      uploadSeconds,
      uploadLagP99Ms: uploadP99 * 1000,
      seconds,
      mibPerSecond: (devices * bytes) / 1024 / 1024 / seconds,
      lagP99Ms: p99 * 1000,
      lagMaxMs: max * 1000,
    };
  } finally {
    for (const socket of sockets) socket.close();
  }
}
