/** A private pool (--join-token): devices without the token are refused with a reason they can show; with it they work; the admin reads the URLs (with the token) phones join by. */
import { afterEach, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { DEVICE_NAMESPACE, PROTOCOL_VERSION, type Job } from '@edgeswarm/shared';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { DeviceFleet } from './support/test-device.ts';
import type { AddressInfo } from 'node:net';
import { hashToken } from '../src/auth/principal.ts';
import { lanAddresses } from '../src/hub/origin-policy.ts';

const JOIN = 'private-pool-join-token';
let hub: TestHub;
const fleet = new DeviceFleet();

afterEach(async () => {
  fleet.closeAll();
  await hub?.close();
});

/** The refusal a device handshake gets, or 'connected'. */
async function handshake(auth: Record<string, unknown>): Promise<{ message: string; data?: { code?: string; message?: string } } | 'connected'> {
  const socket = io(hub.url + DEVICE_NAMESPACE, {
    auth: { protocol: PROTOCOL_VERSION, deviceId: 'pool_device_0001', kind: 'browser', threads: 1, ...auth },
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  try {
    return await new Promise((ok) => {
      socket.once('hub:welcome', () => ok('connected'));
      socket.once('connect_error', (err) => ok(err as Error & { data?: { code?: string; message?: string } }));
    });
  } finally {
    socket.close();
  }
}

describe('private pool', () => {
  it('refuses a device without the join token, or with a wrong one, naming the reason', async () => {
    hub = await startTestHub({ joinToken: JOIN });
    const missing = await handshake({});
    expect(missing).not.toBe('connected');
    if (missing === 'connected') return;
    expect(missing.message).toBe('join_token_required');
    expect(missing.data?.message).toMatch(/private pool.*volunteer URL/);
    const wrong = await handshake({ joinToken: 'not-the-token' });
    expect(wrong !== 'connected' && wrong.message).toBe('join_token_required');
    expect(await handshake({ joinToken: JOIN })).toBe('connected');
  });

  it('gives the admin the volunteer URLs a phone joins by (with the join token), and no other token', async () => {
    hub = await startTestHub({ joinToken: JOIN, host: '0.0.0.0' });
    const { port } = hub.hub.httpServer.address() as AddressInfo;
    const { status, body } = await hub.api<{ urls: string[] }>('GET', '/api/join');
    expect(status).toBe(200);
    expect(body.urls).toEqual(lanAddresses().map((ip) => `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}/?join=${JOIN}`));
    const submitterToken = 'esk_submitter-token-of-alice-000000';
    hub.store.createSubmitter('alice', hashToken(submitterToken), { maxRunning: 1, maxInputs: 10, perMinute: 1, maxBlobBytes: 0 }, Date.now());
    const submitter = await fetch(`${hub.url}/api/join`, { headers: { Authorization: `Bearer ${submitterToken}` } });
    expect(submitter.status).toBe(403);
    expect(((await submitter.json()) as { error: { code: string } }).error.code).toBe('forbidden');
  });

  it('runs work on devices that bring the token', async () => {
    hub = await startTestHub({ joinToken: JOIN });
    await fleet.join(hub.url, { joinToken: JOIN });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n + 1', inputs: [1, 2, 3], reduce: 'sum' });
    const done = await waitFor(async () => {
      const { body } = await hub.api<Job>('GET', `/api/jobs/${job.id}`);
      return body.status === 'completed' ? body : undefined;
    }, 10_000, 'the job to complete');
    expect(done.result).toBe(9);
  });

  it('lets any device join a hub without a join token, ignoring a token a device brings', async () => {
    hub = await startTestHub();
    expect(await handshake({})).toBe('connected');
    expect(await handshake({ joinToken: 'whatever-token' })).toBe('connected');
  });
});
