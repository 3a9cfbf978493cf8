/** Guards against one client hurting others: a cap on connections per address and a message budget per socket. */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { TestDevice } from './support/test-device.ts';

let hub: TestHub;
const devices: TestDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) d.close();
  await hub?.close();
});
const open = (): TestDevice => {
  const d = new TestDevice(hub.url, { autoWork: false });
  devices.push(d);
  return d;
};

describe('client guards', () => {
  it('refuses connections past the per-address cap and admits new ones when others leave', async () => {
    hub = await startTestHub({ maxConnectionsPerAddress: 2 });
    const [a, b] = [open(), open()];
    await a.connected();
    await b.connected();
    await expect(open().connected()).rejects.toThrow('too_many_connections');
    a.close();
    await waitFor(async () => {
      const d = open();
      try {
        await d.connected();
        return true;
      } catch {
        return undefined;
      }
    }, 5000, 'a connection after one left');
  });

  it('does not count refused handshakes against the cap (regression: a few bad handshakes locked an address out)', async () => {
    hub = await startTestHub({ maxConnectionsPerAddress: 2 });
    for (let i = 0; i < 5; i++) {
      const stale = new TestDevice(hub.url, { autoWork: false, protocol: 0 });
      devices.push(stale);
      await expect(stale.connected()).rejects.toThrow('client_too_old');
      stale.close();
    }
    const [a, b] = [open(), open()];
    await a.connected();
    await b.connected();
  });

  it('answers a flood of requests with rate_limited, then disconnects the flooder, and keeps serving others', async () => {
    hub = await startTestHub();
    const flooder = open();
    const honest = open();
    await flooder.connected();
    await honest.connected();
    const acks = await Promise.allSettled(
      Array.from({ length: 1500 }, () => flooder.socket.timeout(3000).emitWithAck('work:request', { slots: 1 })),
    );
    const limited = acks.filter((a) => a.status === 'fulfilled' && (a.value as { error?: { code: string } }).error?.code === 'rate_limited');
    expect(limited.length).toBeGreaterThan(0);
    for (let i = 0; i < 5000 && flooder.socket.connected; i++) flooder.socket.emit('device:status', { state: 'idle', threads: 1 });
    await waitFor(() => (flooder.socket.connected ? undefined : true), 5000, 'the flooder to be disconnected');
    await hub.api('POST', '/api/jobs', { code: '(n) => n', inputs: [1] });
    expect((await honest.request(1))?.items.length).toBe(1);
  });
});
