import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Ack } from '../protocol/ack.ts';
import type { LeaseGrant, SubmitReceipt } from '../protocol/messages.ts';
import { HubLink, countAccepted, type DeviceLinkSocket, type HubLinkHandlers } from './hub-link.ts';
import { IDLE_POLL_MS } from './device-timing.ts';

/** A socket double: records requests and lets the test answer them; counts reconnects. */
class FakeSocket {
  connected = false;
  active = true;
  listeners = new Map<string, (...args: unknown[]) => void>();
  requests: { slots: number; answer: (ack: Ack<LeaseGrant | null>) => void }[] = [];
  submits: { answer: (ack: Ack<SubmitReceipt>) => void }[] = [];
  statuses: unknown[] = [];
  disconnects = 0;
  on(event: string, listener: (...args: unknown[]) => void) {
    this.listeners.set(event, listener);
  }
  emit(event: string, status: unknown) {
    if (event === 'device:status') this.statuses.push(status);
  }
  timeout() {
    return {
      emitWithAck: (event: string, payload: { slots: number }) =>
        new Promise((resolve) => {
          if (event === 'work:request') this.requests.push({ slots: payload.slots, answer: resolve });
          if (event === 'work:submit') this.submits.push({ answer: resolve });
        }),
    };
  }
  connect() {
    this.connected = true;
    this.listeners.get('connect')?.();
  }
  disconnect() {
    this.connected = false;
    this.disconnects++;
  }
  removeAllListeners() {
    this.listeners.clear();
  }
}

const grant = (items = 1): LeaseGrant => ({
  leaseId: 'lease-1',
  jobId: 'job-1',
  code: '(x) => x',
  timeoutMs: 1000,
  items: Array.from({ length: items }, (_, index) => ({ index, input: index })),
});

describe('HubLink', () => {
  let socket: FakeSocket;
  let link: HubLink;
  const calls: string[] = [];
  let want = true;
  let keep = true;
  const handlers: HubLinkHandlers = {
    slots: () => (want ? 4 : null),
    grant: () => keep,
    status: () => ({ state: 'idle', threads: 1 }),
    jobStopped: (id) => calls.push(`stopped ${id}`),
    connected: () => calls.push('connected'),
    disconnected: (reason) => calls.push(`disconnected ${reason}`),
    connectFailed: () => true,
    refused: (message) => calls.push(`refused ${message}`),
    unanswered: (detail) => calls.push(`unanswered ${detail}`),
    receipt: () => {},
    gaveUp: () => {},
  };

  beforeEach(() => {
    vi.useFakeTimers();
    calls.length = 0;
    want = true;
    keep = true;
    socket = new FakeSocket();
    link = new HubLink(socket as unknown as DeviceLinkSocket, handlers, { serverDisconnectRetryMs: 1000 });
    link.start();
  });
  afterEach(() => {
    link.stop();
    vi.useRealTimers();
  });

  it('on connect tells the host, sends its status and asks for the slots it wants, one request at a time', async () => {
    socket.connect();
    expect(calls).toEqual(['connected']);
    expect(socket.statuses).toEqual([{ state: 'idle', threads: 1 }]);
    expect(socket.requests.map((r) => r.slots)).toEqual([4]);
    link.requestWork();
    expect(socket.requests).toHaveLength(1);
    want = false;
    socket.requests[0]?.answer({ ok: true, data: null });
    await vi.advanceTimersByTimeAsync(IDLE_POLL_MS);
    expect(socket.requests).toHaveLength(1); // the host wants nothing: no request
  });

  it('asks again as soon as it is answered when the hub acknowledged results or offered work meanwhile, and not otherwise', async () => {
    socket.connect();
    // Nothing happened while the request was out: the next ask waits for the idle poll.
    socket.requests[0]?.answer({ ok: true, data: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(IDLE_POLL_MS);
    expect(socket.requests).toHaveLength(2);
    // The hub counts inputs as held until their results are acknowledged: a receipt while asking may free room there.
    link.outbox.add('lease-1', 'job-1', [{ index: 0, ok: true, json: '0' }]);
    socket.submits[0]?.answer({ ok: true, data: { accepted: 1, dropped: 0 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.requests).toHaveLength(2); // one request at a time
    socket.requests[1]?.answer({ ok: true, data: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.requests).toHaveLength(3);
    // So may work the hub announced meanwhile.
    socket.listeners.get('work:available')?.();
    socket.requests[2]?.answer({ ok: true, data: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.requests).toHaveLength(4);
  });

  it('says a refusal once, not at every poll, and says when work is handed out again', async () => {
    socket.connect();
    for (let i = 0; i < 3; i++) {
      socket.requests.at(-1)?.answer({ ok: false, error: { code: 'quarantined', message: 'no more work for you' } });
      await vi.advanceTimersByTimeAsync(IDLE_POLL_MS);
    }
    socket.requests.at(-1)?.answer({ ok: true, data: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.filter((c) => c.startsWith('refused'))).toEqual(['refused no more work for you', 'refused null']);
  });

  it('says a refusal that still holds again after a reconnect (the host cleared its notice)', async () => {
    socket.connect();
    socket.requests.at(-1)?.answer({ ok: false, error: { code: 'quarantined', message: 'Q' } });
    await vi.advanceTimersByTimeAsync(0);
    socket.connected = false;
    socket.listeners.get('disconnect')?.('transport close');
    socket.connect();
    socket.requests.at(-1)?.answer({ ok: false, error: { code: 'quarantined', message: 'Q' } });
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.filter((c) => c.startsWith('refused'))).toEqual(['refused Q', 'refused Q']);
  });

  it('once quiesced, ignores a lease on its way and asks, polls and reconnects no more', async () => {
    socket.connect();
    const granted: string[] = [];
    handlers.grant = (g) => {
      granted.push(g.leaseId);
      return true;
    };
    link.quiesce();
    socket.requests[0]?.answer({ ok: true, data: grant() });
    await vi.advanceTimersByTimeAsync(IDLE_POLL_MS * 3);
    expect(granted).toEqual([]);
    expect(socket.requests).toHaveLength(1);
    link.reconnect();
    expect(socket.disconnects).toBe(0);
    handlers.grant = () => keep;
  });

  it('gives back a lease the host no longer wants by reconnecting', async () => {
    socket.connect();
    keep = false;
    socket.requests[0]?.answer({ ok: true, data: grant() });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.disconnects).toBe(1);
    expect(socket.connected).toBe(true);
  });

  it('reconnects after the hub closed the socket, and does nothing once stopped', async () => {
    socket.connect();
    socket.connected = false;
    socket.listeners.get('disconnect')?.('io server disconnect');
    await vi.advanceTimersByTimeAsync(1000);
    expect(socket.connected).toBe(true);
    const onConnect = socket.listeners.get('connect');
    link.stop();
    onConnect?.(); // a late event after stop
    expect(calls.filter((c) => c === 'connected')).toHaveLength(2);
  });
});

describe('countAccepted', () => {
  it('counts only what the hub accepted, successes first', () => {
    const results = [
      { index: 0, ok: true as const, json: '1' },
      { index: 1, ok: false as const, code: 'timeout' as const, message: 't' },
    ];
    expect(countAccepted(results, { accepted: 2, dropped: 0 })).toEqual({ done: 1, failed: 1 });
    expect(countAccepted(results, { accepted: 1, dropped: 1 })).toEqual({ done: 1, failed: 0 });
    expect(countAccepted(results, { accepted: 0, dropped: 2 })).toEqual({ done: 0, failed: 0 });
  });
});
