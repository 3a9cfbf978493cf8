import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HEARTBEAT_INTERVAL_MS, PROTOCOL_VERSION, type LeaseGrant, type WorkSubmit } from '@edgeswarm/shared';
import { FakeHubSocket } from './testing/fake-hub-socket.ts';
import { createInProcessRunner } from './testing/in-process-runner.ts';
import { IDLE_POLL_MS, REFUSED_RETRY_MS, SUBMIT_TIMEOUT_MS, limits } from '@edgeswarm/shared';
import { VolunteerSession } from './volunteer-session.ts';
import { WorkerPool } from './worker-pool.ts';

const HANG = '() => new Promise(() => {})';

/** A submit as the tests compare it: without the run times and round trips the time model reads (tested apart). */
function wire(payload: unknown): unknown {
  const submit = payload as WorkSubmit | undefined;
  if (!submit) return submit;
  const { rttMs: _rtt, ...rest } = submit;
  return { ...rest, results: submit.results.map(({ ms: _ms, ...r }) => r) };
}

function grant(over: Partial<LeaseGrant> = {}): LeaseGrant {
  return {
    leaseId: 'lease-1',
    jobId: 'job-1',
    code: '(n) => n * n',
    timeoutMs: 1000,
    items: [
      { index: 0, input: 2 },
      { index: 1, input: 3 },
    ],
    ...over,
  };
}

describe('VolunteerSession', () => {
  let sockets: FakeHubSocket[];
  let reloads: number;
  let session: VolunteerSession;

  const socket = (): FakeHubSocket => {
    const s = sockets.at(-1);
    if (!s) throw new Error('no socket opened');
    return s;
  };
  const settle = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

  const poolSizes: number[] = [];
  function startSession(threads = 2, joinToken?: string, watchPool: (pool: WorkerPool) => void = () => {}): void {
    session = new VolunteerSession({
      deviceId: 'device-abcdefgh',
      name: 'Chrome on Linux',
      threads,
      joinToken,
      openSocket: (hello) => {
        const s = new FakeHubSocket(hello);
        sockets.push(s);
        return s.asDeviceSocket();
      },
      createPool: (size) => {
        poolSizes.push(size);
        const pool = new WorkerPool(size, createInProcessRunner);
        watchPool(pool);
        return pool;
      },
      reloadPage: () => reloads++,
    });
    session.start();
  }

  /** Runs one input (so the session learns the pace of the job), then grants a lease of `count` more and lets it run. */
  async function runAfterPaceIsKnown(count: number): Promise<{ index: number; input: number }[]> {
    answerRequest(grant({ items: [{ index: 0, input: 1 }] }));
    await settle(0);
    socket().openSubmits()[0]?.answer({ ok: true, data: { accepted: 1, dropped: 0 } });
    await settle(200);
    const items = Array.from({ length: count }, (_, i) => ({ index: i, input: i }));
    answerRequest(grant({ leaseId: 'lease-2', items }));
    await settle(0);
    await settle(0);
    return items;
  }

  /** Answers the oldest open work request. */
  function answerRequest(answer: LeaseGrant | null): number {
    const request = socket().openRequests()[0];
    if (!request) throw new Error('no open work request');
    request.answer({ ok: true, data: answer });
    return (request.payload as { slots: number }).slots;
  }

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    reloads = 0;
  });

  afterEach(() => {
    session.stop();
    vi.useRealTimers();
  });

  it('connects only when started, with the handshake the hub expects', async () => {
    session = new VolunteerSession({
      deviceId: 'device-abcdefgh',
      name: 'n',
      threads: 3,
      openSocket: (hello) => {
        const s = new FakeHubSocket(hello);
        sockets.push(s);
        return s.asDeviceSocket();
      },
      createPool: (size) => new WorkerPool(size, createInProcessRunner),
    });
    await settle(10);
    expect(sockets).toHaveLength(0);
    expect(session.getSnapshot().phase).toBe('stopped');
    session.start();
    await settle(0);
    expect(socket().auth).toEqual({
      protocol: PROTOCOL_VERSION,
      deviceId: 'device-abcdefgh',
      kind: 'browser',
      name: 'n',
      threads: 3,
    });
    expect(session.getSnapshot().phase).toBe('connected');
    expect(socket().statuses).toEqual([{ state: 'idle', threads: 3 }]);
    expect(socket().openRequests().map((r) => r.payload)).toEqual([{ slots: 3 }]);
  });

  it('runs the inputs of a lease and reports them in one submit', async () => {
    startSession();
    await settle(0);
    answerRequest(grant());
    await settle(0);
    const [submit] = socket().openSubmits();
    expect(wire(submit?.payload)).toEqual({
      leaseId: 'lease-1',
      results: [
        { index: 0, ok: true, json: '4' },
        { index: 1, ok: true, json: '9' },
      ],
    } satisfies WorkSubmit);
    expect(session.getSnapshot().done).toBe(0); // counted once the hub acknowledges
    submit?.answer({ ok: true, data: { accepted: 2, dropped: 0 } });
    await settle(200);
    expect(session.getSnapshot()).toMatchObject({ done: 2, failed: 0, jobIds: [] });
  });

  it('reports a run that overruns timeoutMs as a timeout and keeps working', async () => {
    startSession(1);
    await settle(0);
    answerRequest(grant({ code: HANG, timeoutMs: 300, items: [{ index: 5, input: 0 }] }));
    await settle(299);
    expect(socket().openSubmits()).toHaveLength(0);
    await settle(1);
    expect(wire(socket().openSubmits()[0]?.payload)).toEqual({
      leaseId: 'lease-1',
      results: [{ index: 5, ok: false, code: 'timeout', message: 'the run took longer than timeoutMs (300 ms)' }],
    });
    socket().openSubmits()[0]?.answer({ ok: true, data: { accepted: 1, dropped: 0 } });
    await settle(200);
    expect(session.getSnapshot().failed).toBe(1);
    // The freed thread asks for more work.
    expect(socket().openRequests()).toHaveLength(1);
  });

  it('retries a submit whose ack times out, and resends unacknowledged results after a reconnect', async () => {
    startSession(1);
    await settle(0);
    answerRequest(grant({ items: [{ index: 0, input: 4 }] }));
    await settle(0);
    expect(socket().submits).toHaveLength(1);
    await settle(SUBMIT_TIMEOUT_MS);
    await settle(1000); // backoff
    expect(socket().submits).toHaveLength(2);
    expect(wire(socket().submits[1]?.payload)).toEqual(wire(socket().submits[0]?.payload));

    socket().drop();
    await settle(0);
    expect(session.getSnapshot().phase).toBe('disconnected');
    socket().accept();
    await settle(0);
    expect(socket().submits).toHaveLength(3);
    socket().openSubmits()[0]?.answer({ ok: true, data: { accepted: 1, dropped: 0 } });
    await settle(200);
    expect(session.getSnapshot().done).toBe(1);
  });

  it('on job:stopped abandons that job’s queued and running inputs and reports none of them', async () => {
    startSession(1);
    await settle(0);
    answerRequest(grant({ code: HANG, items: [{ index: 0, input: 0 }, { index: 1, input: 1 }] }));
    await settle(200);
    expect(session.getSnapshot()).toMatchObject({ running: 1, queued: 1, jobIds: ['job-1'] });
    socket().fire('job:stopped', { jobId: 'job-1' });
    await settle(2000);
    expect(socket().submits).toHaveLength(0);
    expect(session.getSnapshot()).toMatchObject({ running: 0, queued: 0, jobIds: [] });
  });

  it('reloads the page when the hub says it is too old, and retries when the hub is too old', async () => {
    startSession();
    await settle(0);
    socket().drop();
    socket().refuse('client_too_old');
    expect(reloads).toBe(1);

    socket().refuse('server_too_old');
    await settle(0);
    expect(session.getSnapshot().statusText).toMatch(/older version/);
    const calls = socket().connectCalls;
    await settle(REFUSED_RETRY_MS);
    expect(socket().connectCalls).toBe(calls + 1);
  });

  it('brings the join token of a private pool in its handshake, and says so when the hub refuses it', async () => {
    startSession(1, 'pool-token-123');
    await settle(0);
    expect(socket().auth).toMatchObject({ joinToken: 'pool-token-123' });
    socket().drop();
    socket().refuse('join_token_required');
    await settle(0);
    expect(session.getSnapshot().statusText).toMatch(/private pool: open the volunteer link/);
  });

  describe('volunteer controls', () => {
    // Runs of 1 s; the snapshot is refreshed at most every NOTIFY_INTERVAL_MS, so it is read mid-phase.
    const SLOW = '(n) => new Promise((ok) => setTimeout(() => ok(n), 1000))';

    it('under a 50% CPU limit rests a worker as long as its last run before the next input', async () => {
      startSession(1);
      session.setCpuLimit(50);
      await settle(0);
      answerRequest(grant({ code: SLOW, timeoutMs: 60_000, items: [0, 1, 2].map((i) => ({ index: i, input: i })) }));
      await settle(500);
      expect(session.getSnapshot().running).toBe(1);
      await settle(1000); // t = 1.5 s: the first run ended at 1 s; the worker rests until 2 s
      expect(session.getSnapshot().running).toBe(0);
      await settle(1000); // t = 2.5 s: the second run
      expect(session.getSnapshot().running).toBe(1);
    });

    it('without a CPU limit goes straight on to the next input', async () => {
      startSession(1);
      await settle(0);
      answerRequest(grant({ code: SLOW, timeoutMs: 60_000, items: [0, 1].map((i) => ({ index: i, input: i })) }));
      await settle(1500);
      expect(session.getSnapshot().running).toBe(1);
      expect(session.getSnapshot().cpuLimit).toBe(100);
    });

    it('stays paused until every reason is gone: Pause, a hidden tab, no charger', async () => {
      startSession(1);
      await settle(0);
      session.pause('hidden');
      expect(session.getSnapshot().statusText).toMatch(/tab is hidden/);
      session.pause('user');
      session.resume('hidden');
      expect(session.getSnapshot()).toMatchObject({ paused: true, pausedBy: ['user'] });
      session.pause('battery');
      session.resume('user');
      expect(session.getSnapshot().statusText).toMatch(/not charging/);
      session.resume('battery');
      expect(session.getSnapshot()).toMatchObject({ paused: false, pausedBy: [] });
      expect(socket().statuses.at(-1)).not.toMatchObject({ state: 'paused' });
    });

    it('changes its number of threads: a new pool, the hub told, held work given back', async () => {
      startSession(2);
      await settle(0);
      answerRequest(grant({ code: HANG, timeoutMs: 60_000, items: [{ index: 0, input: 0 }] }));
      await settle(0);
      const connects = socket().connectCalls;
      session.setThreads(3);
      await settle(0);
      expect(poolSizes.at(-1)).toBe(3);
      expect(session.getSnapshot().threads).toBe(3);
      expect(socket().statuses.at(-1)).toMatchObject({ threads: 3 });
      expect(socket().connectCalls).toBe(connects + 1); // reconnected: the hub released the held lease
    });

    it('shows each held job with its name and who submitted it', async () => {
      startSession(1);
      await settle(0);
      answerRequest(grant({ code: HANG, timeoutMs: 60_000, jobName: 'primes', owner: 'alice', items: [{ index: 0, input: 0 }] }));
      await settle(1000);
      expect(session.getSnapshot().jobs).toEqual([{ id: 'job-1', name: 'primes', owner: 'alice' }]);
    });
  });

  it('eases off under CPU pressure (a lower CPU limit, said in its status) and back to the volunteer’s limit after', async () => {
    startSession(1);
    await settle(0);
    const why = 'Easing off to 50% CPU: this device reports serious CPU pressure (heat or load).';
    session.easeOff({ limit: 50, why });
    await settle(200);
    expect(session.getSnapshot().statusText).toBe(why);
    expect(session.getSnapshot().paused).toBe(false);
    // At 50% a worker rests as long as each run took: a 40 ms run, then 40 ms before the next starts.
    answerRequest(grant({ code: '(n) => new Promise((r) => setTimeout(() => r(n), 40))', items: [{ index: 0, input: 1 }, { index: 1, input: 2 }] }));
    // Unlimited, both would be reported together at 80 ms, when the lease ends; at 50% the second starts after a 40 ms
    // rest and ends at 120 ms (the first result waits for it).
    const reported = () => socket().openSubmits().flatMap((s) => (s.payload as WorkSubmit).results).length;
    await settle(100);
    expect(reported()).toBe(0);
    await settle(30);
    expect(reported()).toBe(2);
    session.easeOff(null);
    await settle(200);
    expect(session.getSnapshot().statusText).not.toBe(why);
  });

  it('heartbeats with its state while connected', async () => {
    startSession(1);
    await settle(0);
    answerRequest(grant({ code: HANG, timeoutMs: 60_000, items: [{ index: 0, input: 0 }] }));
    await settle(HEARTBEAT_INTERVAL_MS);
    expect(socket().statuses.at(-1)).toEqual({ state: 'working', threads: 1 });
  });

  it('pause releases held leases by reconnecting and asks for nothing until resumed', async () => {
    startSession(1);
    await settle(0);
    answerRequest(grant({ code: HANG, timeoutMs: 60_000 }));
    await settle(0);
    session.pause();
    expect(socket().disconnectCalls).toBe(1);
    await settle(0);
    expect(session.getSnapshot()).toMatchObject({ paused: true, phase: 'connected', running: 0, queued: 0 });
    expect(socket().statuses.at(-1)).toEqual({ state: 'paused', threads: 1 });
    await settle(IDLE_POLL_MS * 3);
    expect(socket().openRequests()).toHaveLength(0);
    session.resume();
    expect(socket().openRequests()).toHaveLength(1);
  });

  it('polls for work while idle when the hub had none', async () => {
    startSession(1);
    await settle(0);
    answerRequest(null);
    await settle(0);
    expect(socket().openRequests()).toHaveLength(0);
    await settle(IDLE_POLL_MS);
    expect(socket().openRequests()).toHaveLength(1);
    socket().fire('work:available');
    expect(socket().openRequests()).toHaveLength(1); // one request at a time
  });

  it('shows why the hub refuses work (a quarantined device), and keeps asking now and then', async () => {
    startSession(1);
    await settle(0);
    const request = socket().openRequests()[0];
    request?.answer({ ok: false, error: { code: 'quarantined', message: 'this device returned a result that disagreed with the result other devices agreed on, so the hub gives it no more work' } });
    await settle(300); // snapshots are throttled
    expect(session.getSnapshot().statusText).toBe(
      'The hub refused to hand out work: this device returned a result that disagreed with the result other devices agreed on, so the hub gives it no more work',
    );
    await settle(IDLE_POLL_MS);
    expect(socket().openRequests()).toHaveLength(1);
    // After a reconnect (which clears notices) the refusal that still holds is shown again.
    socket().drop();
    socket().accept();
    await settle(0);
    socket().openRequests()[0]?.answer({ ok: false, error: { code: 'quarantined', message: 'this device returned a result that disagreed with the result other devices agreed on, so the hub gives it no more work' } });
    await settle(300);
    expect(session.getSnapshot().statusText).toMatch(/^The hub refused to hand out work: this device returned/);
  });

  it('asks further ahead once runs prove short, keeping a local queue', async () => {
    startSession(2);
    await settle(0);
    expect(answerRequest(grant({ items: [{ index: 0, input: 1 }, { index: 1, input: 2 }] }))).toBe(2);
    await settle(0);
    // Sub-millisecond runs: it holds the hub's cap per thread, and asks for half of that so two leases overlap.
    expect(socket().openRequests()[0]?.payload).toEqual({ slots: (2 * limits.MAX_HELD_PER_THREAD) / 2 });
  });

  it('reports each run’s time and its mean round trip to the hub, for the hub’s time model', async () => {
    startSession(1);
    await settle(0);
    answerRequest(grant({ code: '(n) => new Promise((r) => setTimeout(() => r(n), 40))', items: [{ index: 0, input: 1 }] }));
    await settle(40);
    const [submit] = socket().openSubmits();
    const payload = submit?.payload as WorkSubmit;
    expect(payload.results[0]?.ms).toBeGreaterThanOrEqual(40);
    expect(payload.rttMs).toBeGreaterThanOrEqual(0);
  });

  it('runs short inputs of one job in batches, each input once and in order, once their pace is known', async () => {
    startSession(1);
    await settle(0);
    const items = await runAfterPaceIsKnown(100);
    const submits = socket().openSubmits().map((s) => s.payload as WorkSubmit);
    const results = submits.flatMap((s) => s.results);
    expect(results.map((r) => r.index)).toEqual(items.map((i) => i.index));
    expect(results.map((r) => (r.ok ? r.json : null))).toEqual(items.map((i) => String(i.input * i.input)));
  });

  it('posts the next batch behind the running one, so a runner never waits on the page between batches', async () => {
    const posted: number[] = [];
    startSession(1, undefined, (pool) => {
      const post = pool.postBatch.bind(pool);
      pool.postBatch = (tasks) => {
        const pending = post(tasks);
        if (pending) posted.push(tasks.length);
        return pending;
      };
    });
    await settle(0);
    const items = await runAfterPaceIsKnown(100);
    // 64 inputs run at once; the other 36 wait on the runner behind them, not on this page.
    expect(posted).toEqual([36]);
    const results = socket()
      .openSubmits()
      .flatMap((s) => (s.payload as WorkSubmit).results);
    expect(results.map((r) => r.index)).toEqual(items.map((i) => i.index));
  });

  it('fails only the input that overran inside a batch: the batch runs again one input at a time', async () => {
    startSession(1);
    await settle(0);
    const code = '(n) => (n === 3 ? new Promise(() => {}) : n * 10)';
    answerRequest(grant({ code, timeoutMs: 400, items: [{ index: 0, input: 0 }] }));
    await settle(0);
    socket().openSubmits()[0]?.answer({ ok: true, data: { accepted: 1, dropped: 0 } });
    await settle(200);
    answerRequest(grant({ leaseId: 'lease-2', code, timeoutMs: 400, items: [1, 2, 3, 4, 5].map((n) => ({ index: n, input: n })) }));
    await settle(0);
    // The batch hangs on input 3; past the job's timeoutMs its runner is replaced and its inputs run again alone.
    await settle(400);
    await settle(400);
    await settle(0);
    const results = socket()
      .openSubmits()
      .flatMap((s) => (s.payload as WorkSubmit).results)
      .sort((a, b) => a.index - b.index);
    expect(results.map((r) => (r.ok ? [r.index, r.json] : [r.index, r.code]))).toEqual([
      [1, '10'],
      [2, '20'],
      [3, 'timeout'],
      [4, '40'],
      [5, '50'],
    ]);
  });

  it('reconnects after an unanswered work request, since the hub may hold a lease it never saw acknowledged', async () => {
    startSession(1);
    await settle(0);
    await settle(10_000);
    expect(socket().disconnectCalls).toBe(1);
    await settle(1);
    expect(socket().connected).toBe(true);
  });

  it('fetches a work module and its shared files once, then runs every input with ctx.shared', async () => {
    startSession();
    await settle(0);
    const bundleHex = 'a'.repeat(64);
    const tableHex = 'b'.repeat(64);
    const bundle = new TextEncoder().encode('module.exports = { default: (n, ctx) => n * ctx.shared.table.k + ctx.shared.raw[0] };');
    const table = new TextEncoder().encode('{"k": 10}');
    const raw = new Uint8Array([7]);
    const blobs: Record<string, Uint8Array> = { [bundleHex]: bundle, [tableHex]: table, ['c'.repeat(64)]: raw };
    const serveBlobs = () => {
      for (const read of socket().openBlobReads()) {
        const { blob, chunk } = read.payload as { blob: string; chunk: number };
        const bytes = blobs[blob] ?? new Uint8Array();
        read.answer({ ok: true, data: { size: bytes.length, chunk, bytes } });
      }
    };
    const withWork = (leaseId: string, items: LeaseGrant['items']) =>
      grant({
        leaseId,
        code: '',
        bundle: { blob: bundleHex, size: bundle.length },
        shared: [
          { name: 'table', blob: tableHex, as: 'json', size: table.length },
          { name: 'raw', blob: 'c'.repeat(64), as: 'bytes', size: 1 },
        ],
        items,
      });
    answerRequest(withWork('lease-1', [{ index: 0, input: 2 }, { index: 1, input: 3 }]));
    for (let i = 0; i < 5; i++) {
      await settle(0);
      serveBlobs();
    }
    await settle(0);
    const submit = socket().openSubmits()[0];
    expect(wire(submit?.payload)).toEqual({
      leaseId: 'lease-1',
      results: [
        { index: 0, ok: true, json: '27' },
        { index: 1, ok: true, json: '37' },
      ],
    });
    // A second lease of the same job needs nothing fetched again.
    expect(socket().blobReads).toHaveLength(3);
    submit?.answer({ ok: true, data: { accepted: 2, dropped: 0 } });
    await settle(0);
    answerRequest(withWork('lease-2', [{ index: 2, input: 4 }]));
    await settle(0);
    expect(wire(socket().openSubmits()[0]?.payload)).toEqual({ leaseId: 'lease-2', results: [{ index: 2, ok: true, json: '47' }] });
    expect(socket().blobReads).toHaveLength(3);
    await settle(200);
    expect(session.getSnapshot().blobBytesFetched).toBe(bundle.length + table.length + 1);
  });

  it('gives a lease back when the hub does not answer for its job data, and says why', async () => {
    startSession();
    await settle(0);
    answerRequest(grant({ code: '', bundle: { blob: 'd'.repeat(64), size: 10 } }));
    // Every try is refused as "unavailable" (the hub cannot read its storage); the device waits between tries.
    for (let i = 0; i < 40 && socket().disconnectCalls === 0; i++) {
      for (const read of socket().openBlobReads()) read.answer({ ok: false, error: { code: 'unavailable', message: 'disk busy' } });
      await settle(300);
    }
    expect(socket().disconnectCalls).toBe(1);
    expect(session.getSnapshot().statusText).toMatch(/^Could not fetch the data of job job-1: BlobFetchError: disk busy/);
    expect(socket().openSubmits()).toHaveLength(0);
  });

  it('drops a lease the hub no longer lets it read, without reconnecting', async () => {
    startSession();
    await settle(0);
    answerRequest(grant({ code: '', bundle: { blob: 'd'.repeat(64), size: 10 } }));
    for (let i = 0; i < 5 && socket().openBlobReads().length === 0; i++) await settle(0);
    socket().openBlobReads()[0]?.answer({ ok: false, error: { code: 'not_leased', message: 'this device holds no lease of a job that uses blob' } });
    await settle(0);
    expect(socket().disconnectCalls).toBe(0);
    expect(socket().openSubmits()).toHaveLength(0);
    await settle(200);
    expect(session.getSnapshot().jobs).toEqual([]);
  });

  it('reports unusable job data (a bundle that is not UTF-8) as failed runs of that lease only', async () => {
    startSession();
    await settle(0);
    const hex = 'e'.repeat(64);
    answerRequest(grant({ code: '', bundle: { blob: hex, size: 2 } }));
    for (let i = 0; i < 5 && socket().openBlobReads().length === 0; i++) await settle(0);
    socket().openBlobReads()[0]?.answer({ ok: true, data: { size: 2, chunk: 0, bytes: new Uint8Array([0xff, 0xfe]) } });
    await settle(100);
    expect(socket().disconnectCalls).toBe(0);
    const submit = socket().openSubmits()[0]?.payload as WorkSubmit | undefined;
    expect(submit?.results.map((r) => [r.index, r.ok, r.ok ? '' : r.code])).toEqual([
      [0, false, 'work_error'],
      [1, false, 'work_error'],
    ]);
    expect(submit?.results[0]).toMatchObject({ message: expect.stringMatching(/could not be used on this device: BlobFetchError: the bundle is not UTF-8 text/) as unknown });
  });
});
