/** Origin allow-list: a page of another site cannot use the hub's Socket.IO (cross-site WebSocket hijacking) or API; agents and scripts without Origin can. */
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { io } from 'socket.io-client';
import { DASHBOARD_NAMESPACE, DEVICE_NAMESPACE, PROTOCOL_VERSION } from '@edgeswarm/shared';
import { startTestHub, TEST_TOKEN, type TestHub } from './support/test-hub.ts';

let hub: TestHub;
afterEach(async () => {
  await hub?.close();
});

type Outcome = 'connected' | string;

/** Opens a namespace with an Origin header (or none) and returns 'connected' or the refusal code. */
async function connect(namespace: string, origin: string | undefined): Promise<Outcome> {
  const auth =
    namespace === DASHBOARD_NAMESPACE
      ? { protocol: PROTOCOL_VERSION, token: TEST_TOKEN }
      : { protocol: PROTOCOL_VERSION, deviceId: 'origin_device_01', kind: 'browser', threads: 1 };
  const socket = io(hub.url + namespace, {
    auth,
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    ...(origin === undefined ? {} : { extraHeaders: { Origin: origin } }),
  });
  try {
    return await new Promise<Outcome>((ok) => {
      socket.once('connect', () => ok('connected'));
      socket.once('connect_error', (err) => ok(err.message));
    });
  } finally {
    socket.close();
  }
}

async function api(path: string, origin: string | undefined): Promise<{ status: number; body: unknown }> {
  const res = await fetch(hub.url + path, {
    headers: { Authorization: `Bearer ${TEST_TOKEN}`, ...(origin === undefined ? {} : { Origin: origin }) },
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

describe('origin allow-list', () => {
  it('refuses the dashboard feed and the device namespace to a page of another site, even with a valid token', async () => {
    hub = await startTestHub();
    for (const namespace of [DASHBOARD_NAMESPACE, DEVICE_NAMESPACE]) {
      expect(await connect(namespace, 'http://evil.example')).toBe('origin_not_allowed');
      expect(await connect(namespace, 'null')).not.toBe('connected'); // refused before any session (see below)
      // DNS rebinding: another name for the same address is not the hub's origin.
      expect(await connect(namespace, hub.url.replace('127.0.0.1', 'rebound.example'))).toBe('origin_not_allowed');
      expect(await connect(namespace, hub.url)).toBe('connected');
      expect(await connect(namespace, hub.url.replace('127.0.0.1', 'localhost'))).toBe('connected');
      expect(await connect(namespace, undefined)).toBe('connected'); // Node agents send no Origin
    }
  });

  it('answers API and metrics calls from a page of another site with 403 origin_not_allowed', async () => {
    hub = await startTestHub();
    const refused = await api('/api/stats', 'http://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ error: { code: 'origin_not_allowed', message: expect.stringMatching(/evil\.example.*--allowed-origins/) } });
    expect((await api('/metrics', 'http://evil.example')).status).toBe(403);
    expect((await api('/api/stats', hub.url)).status).toBe(200);
    expect((await api('/api/stats', undefined)).status).toBe(200);
    expect((await api('/healthz', 'http://evil.example')).status).toBe(200); // no data, no token: open to all
  });

  it('admits the origins given with --allowed-origins, or any with "*"', async () => {
    hub = await startTestHub({ allowedOrigins: ['http://localhost:5173'] });
    expect(await connect(DASHBOARD_NAMESPACE, 'http://localhost:5173')).toBe('connected');
    expect((await api('/api/stats', 'http://localhost:5173')).status).toBe(200);
    expect(await connect(DASHBOARD_NAMESPACE, 'http://localhost:5174')).toBe('origin_not_allowed');
    await hub.close();
    hub = await startTestHub({ allowedOrigins: '*' });
    expect(await connect(DASHBOARD_NAMESPACE, 'http://anything.example')).toBe('connected');
  });

  it('lets a page of an admitted origin read long-polling answers (CORS), and no other page', async () => {
    hub = await startTestHub({ allowedOrigins: ['http://other-hub.example:8080'] });
    const { port } = new URL(hub.url);
    const corsOf = (origin: string) =>
      new Promise<string | undefined>((ok, fail) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/socket.io/?EIO=4&transport=polling', method: 'GET', headers: { origin, 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'cross-site' } },
          (res) => {
            res.resume();
            const header = res.headers['access-control-allow-origin'];
            ok(typeof header === 'string' ? header : undefined);
          },
        );
        req.on('error', fail);
        req.end();
      });
    expect(await corsOf('http://other-hub.example:8080')).toBe('http://other-hub.example:8080');
    expect(await corsOf('http://evil.example')).toBeUndefined();
  });

  it('refuses a browser long-polling handshake on a rebound host name, which carries no Origin (DNS rebinding)', async () => {
    hub = await startTestHub();
    const { port } = new URL(hub.url);
    const handshake = (headers: Record<string, string>) =>
      new Promise<number>((ok, fail) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/socket.io/?EIO=4&transport=polling', method: 'GET', headers },
          (res) => {
            res.resume();
            ok(res.statusCode ?? 0);
          },
        );
        req.on('error', fail);
        req.end();
      });
    const browser = { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' };
    expect(await handshake({ host: `rebound.example:${port}`, ...browser })).toBe(403);
    expect(await handshake({ host: `127.0.0.1:${port}`, ...browser })).toBe(200);
    expect(await handshake({ host: `localhost:${port}`, ...browser })).toBe(200);
    // A Node agent may reach the hub by any name: no Origin, no Sec-Fetch headers.
    expect(await handshake({ host: `my-hub.lan:${port}` })).toBe(200);
    // A sandboxed frame (job code importing a hub URL) gets no engine.io session at all.
    expect(await handshake({ host: `127.0.0.1:${port}`, origin: 'null' })).toBe(403);
    // With any other Origin, the namespaces decide (and say why: see the first test).
  });
});
