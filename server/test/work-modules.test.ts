/** Work modules on a real hub with real agents: bundles and shared files delivered once per connection, only to lease holders, and errors at the bundle's lines. */
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { io } from 'socket.io-client';
import { DEVICE_NAMESPACE, PROTOCOL_VERSION, type Ack, type BlobChunk, type Job } from '@edgeswarm/shared';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { parsePrometheusText, sampleValue } from './support/prometheus-text.ts';
import { TestDevice } from './support/test-device.ts';
import type { Agent } from '../src/agent/agent.ts';
import { startTestAgent } from './support/test-agent.ts';

const hubs: TestHub[] = [];
const agents: Agent[] = [];
const devices: TestDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) d.close();
  await Promise.all(agents.splice(0).map((a) => a.stop(0)));
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function upload(hub: TestHub, bytes: Uint8Array): Promise<string> {
  const hex = sha(bytes);
  const res = await fetch(`${hub.url}/api/blobs/${hex}`, { method: 'PUT', headers: { Authorization: `Bearer ${hub.token}` }, body: bytes });
  expect([200, 201]).toContain(res.status);
  return hex;
}

async function finished(hub: TestHub, id: string): Promise<Job> {
  return waitFor(async () => {
    const job = (await hub.api<Job>('GET', `/api/jobs/${id}`)).body;
    return ['completed', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
  }, 30_000, `job ${id} to finish`);
}

async function metric(hub: TestHub, name: string): Promise<number> {
  const res = await fetch(`${hub.url}/metrics`, { headers: { Authorization: `Bearer ${hub.token}` } });
  return sampleValue(parsePrometheusText(await res.text()), name);
}

function startAgent(hub: TestHub, devicesCount: number): Agent {
  const agent = startTestAgent(hub.url, { devices: devicesCount, name: 'work module test' });
  agents.push(agent);
  return agent;
}

// A work module as `edgeswarm build` writes it (CommonJS), using a shared JSON table and shared bytes.
const BUNDLE = new TextEncoder().encode(
  [
    '"use strict";',
    'module.exports = { default: function work(n, ctx) {',
    '  if (n === 13) throw new Error("unlucky " + n);',
    '  return n * ctx.shared.table.factor + ctx.shared.data[n % ctx.shared.data.length];',
    '} };',
  ].join('\n'),
);
const TABLE = new TextEncoder().encode(JSON.stringify({ factor: 1000 }));
const DATA = Uint8Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7) % 256);

describe('work modules on agents', () => {
  it('runs a bundle with shared files on two agent devices, each fetching every blob once', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const bundle = await upload(hub, BUNDLE);
    const table = await upload(hub, TABLE);
    const data = await upload(hub, DATA);
    const agent = startAgent(hub, 2);
    await waitFor(async () => ((await hub.api<{ total: number }>('GET', '/api/devices')).body.total === 2 ? true : undefined));
    const inputs = Array.from({ length: 200 }, (_, i) => i + 20);
    const created = await hub.api<Job>('POST', '/api/jobs', {
      bundle: `sha256:${bundle}`,
      inputs,
      reduce: 'sum',
      shared: { table: { blob: `sha256:${table}`, as: 'json' }, data: `sha256:${data}` },
    });
    expect(created.status).toBe(201);
    const job = await finished(hub, created.body.id);
    expect(job.status).toBe('completed');
    expect(job.result).toBe(inputs.reduce((sum, n) => sum + n * 1000 + (DATA[n % DATA.length] ?? 0), 0));
    // A second job of the same module and files.
    const second = await hub.api<Job>('POST', '/api/jobs', {
      bundle: `sha256:${bundle}`,
      inputs: Array.from({ length: 50 }, (_, i) => i + 100),
      shared: { table: { blob: `sha256:${table}`, as: 'json' }, data: `sha256:${data}` },
    });
    expect((await finished(hub, second.body.id)).status).toBe('completed');
    // Each device fetched each blob at most once over both jobs (once if it ran any input), and the hub's
    // counter is the sum of what the devices received.
    const set = BUNDLE.length + TABLE.length + DATA.length;
    const fetched = agent.devices.map((d) => d.stats().blobBytesFetched);
    for (const bytes of fetched) expect([0, set]).toContain(bytes);
    expect(fetched.some((bytes) => bytes === set)).toBe(true);
    expect(await metric(hub, 'edgeswarm_blob_bytes_served_total')).toBe(fetched.reduce((a, b) => a + b, 0));
  });

  it("fails a job whose module throws with the error's frame in the bundle", async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const bundle = await upload(hub, BUNDLE);
    const table = await upload(hub, TABLE);
    const data = await upload(hub, DATA);
    startAgent(hub, 1);
    const created = await hub.api<Job>('POST', '/api/jobs', {
      bundle: `sha256:${bundle}`,
      inputs: [13],
      maxAttempts: 1,
      shared: { table: { blob: `sha256:${table}`, as: 'json' }, data: `sha256:${data}` },
    });
    const job = await finished(hub, created.body.id);
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('work_error');
    expect(job.error?.message).toMatch(new RegExp(`last error: Error: unlucky 13\\n    at (Object\\.)?work .*\\(edgeswarm-bundle-${bundle.slice(0, 12)}\\.js:3:`));
  });
});

describe('blob:read', () => {
  it('gives a chunk only to a connection holding a lease of a job that uses the blob', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const data = await upload(hub, DATA);
    const other = await upload(hub, TABLE);
    const holder = new TestDevice(hub.url, { autoWork: false });
    const stranger = new TestDevice(hub.url, { autoWork: false });
    devices.push(holder, stranger);
    await Promise.all([holder.connected(), stranger.connected()]);
    const read = (device: TestDevice, blob: string, chunk = 0) =>
      device.socket.timeout(5000).emitWithAck('blob:read', { blob, chunk }) as Promise<Ack<BlobChunk>>;
    // Before any job, nobody may read it: not even knowing the hash helps.
    expect(await read(holder, data)).toMatchObject({ ok: false, error: { code: 'not_leased' } });
    await hub.api('POST', '/api/jobs', { code: '(x, ctx) => ctx.shared.data.length', inputs: [1], shared: { data: `sha256:${data}` } });
    const grant = await holder.request(1);
    expect(grant?.shared).toEqual([{ name: 'data', blob: data, as: 'bytes', size: DATA.length }]);
    const chunk = await read(holder, data, 2);
    expect(chunk.ok && chunk.data.size).toBe(DATA.length);
    expect(chunk.ok && Buffer.from(chunk.data.bytes as Uint8Array).equals(Buffer.from(DATA.subarray(2 * 1024 * 1024)))).toBe(true);
    // Another blob, another connection, a chunk past the end, a malformed request.
    expect(await read(holder, other)).toMatchObject({ ok: false, error: { code: 'not_leased' } });
    expect(await read(stranger, data)).toMatchObject({ ok: false, error: { code: 'not_leased' } });
    expect(await read(holder, data, 3)).toMatchObject({ ok: false, error: { code: 'no_such_chunk' } });
    expect(await holder.socket.timeout(5000).emitWithAck('blob:read', { blob: 'xyz', chunk: -1 })).toMatchObject({
      ok: false,
      error: { code: 'invalid_payload' },
    });
    expect(await metric(hub, 'edgeswarm_blob_bytes_served_total')).toBe(DATA.length - 2 * 1024 * 1024);
  });

  it('refuses a device of the old protocol version at the handshake', async () => {
    const hub = await startTestHub();
    hubs.push(hub);
    const socket = io(hub.url + DEVICE_NAMESPACE, {
      auth: { protocol: PROTOCOL_VERSION - 1, deviceId: 'old_device_12345', kind: 'browser', name: 'old', threads: 1 },
      transports: ['websocket'],
      reconnection: false,
    });
    const error = await new Promise<Error>((resolve) => socket.on('connect_error', resolve));
    socket.close();
    expect(error.message).toBe('client_too_old');
  });
});
