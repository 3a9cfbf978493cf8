/**
 * The conformance cases of result verification (distinct devices, quorum with tolerance, more replicas, `no_quorum`,
 * quarantine, adaptive single runs with spot checks and rechecks), run by each store engine through the async
 * contract. The engine opens an empty store whose random draws (spot-check decisions) come from the suite.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseJobSpec, type JobSpec, type JsonValue } from '@edgeswarm/shared';
import type { JobStore } from '../../src/store/async-store.ts';
import type { ActiveLease, CheckedResult } from '../../src/store/job-store.ts';
import { TRUST_STREAK } from '../../src/verification/quorum.ts';

/** What the verification cases may look at and set behind the contract. */
export interface VerifiedProbe {
  rows(table: string): Promise<number>;
  /** Sets a device's quarantine time (null lifts it) and, when given, its streak of valid results. */
  setDevice(id: string, values: { quarantinedAt: number | null; streak?: number }): Promise<void>;
  streak(id: string): Promise<number>;
}

export interface VerifiedEngine {
  name: string;
  /** An empty store of this engine drawing its random numbers from `random`. */
  open(random: () => number): Promise<{ store: JobStore; probe: VerifiedProbe; close(): Promise<void> }>;
}

const NOW = Date.UTC(2026, 0, 1);

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec({ code: '(x) => x', ...body });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

export function runVerifiedSuite(engine: VerifiedEngine): void {
  describe(`verified jobs on ${engine.name}`, () => {
    let store: JobStore;
    let probe: VerifiedProbe;
    let close: () => Promise<void>;
    let coin = 0.5;
    /** Random draws to use before `coin` (spot-check decisions, one per fresh input of a trusted device). */
    let coins: number[] = [];
    const addresses = new Map<string, string>();

    beforeEach(async () => {
      coin = 0.5;
      coins = [];
      addresses.clear();
      ({ store, probe, close } = await engine.open(() => coins.shift() ?? coin));
    });
    afterEach(async () => {
      await close();
    });

    /** Devices connect, each from its own address unless one is given as `id@address`. */
    async function register(...ids: string[]): Promise<void> {
      for (const spec of ids) {
        const [id = spec, address = `addr-${spec}`] = spec.split('@');
        addresses.set(id, address);
        await store.registerDevice({ id, kind: 'node', name: id, threads: 1, now: NOW, address });
      }
    }

    const lease = (device: string, max = 10) =>
      store.leaseWork({ deviceId: device, connId: `c-${device}`, max, deadline: NOW + 60_000, now: NOW, address: addresses.get(device) ?? null });

    /** Reports `answer(input)` for every input of the lease. */
    function report(device: string, active: ActiveLease | null, answer: (input: JsonValue, index: number) => JsonValue = (x) => x) {
      if (!active) throw new Error(`${device} got no lease`);
      const results: CheckedResult[] = active.items.map((it) => {
        const value = answer(it.input, it.index);
        return { index: it.index, ok: true, json: JSON.stringify(value), value };
      });
      return store.recordResults(active.lease.id, device, results, NOW);
    }

    const device = async (id: string) => (await store.listDevices(0, 100)).items.find((d) => d.id === id);

    describe('replicated jobs', () => {
      it('runs each input on k distinct devices and accepts it when the quorum agrees', async () => {
        await register('a', 'b', 'c');
        const job = await store.createJob(spec({ inputs: [1, 2, 3], verify: 'replicate', replication: 2 }), NOW);
        const first = await lease('a');
        expect(first?.items.map((i) => i.index)).toEqual([0, 1, 2]);
        expect(await lease('a')).toBeNull(); // never two replicas of one input on one device
        expect((await report('a', first)).completed).toBe(0);
        expect((await store.getJob(job.id))?.progress.completed).toBe(0);
        const second = await lease('b');
        expect(second?.items.map((i) => i.index)).toEqual([0, 1, 2]);
        expect(await lease('c')).toBeNull(); // every input has its two replicas
        const outcome = await report('b', second);
        expect(outcome).toMatchObject({ completed: 3, jobsToFinalize: [job.id] });
        expect((await store.getResults(job.id, 0, 10))?.results).toEqual([1, 2, 3]);
        expect(await device('a')).toMatchObject({ valid: 3, invalid: 0, quarantined: false });
      });

      it('prefers inputs already started, so replicas pair up instead of spreading over the job', async () => {
        await register('a', 'b');
        await store.createJob(spec({ inputs: [1, 2, 3, 4, 5, 6], verify: 'replicate' }), NOW);
        expect((await lease('a', 2))?.items.map((i) => i.index)).toEqual([0, 1]);
        expect((await lease('b', 3))?.items.map((i) => i.index)).toEqual([0, 1, 2]);
        expect((await lease('a', 3))?.items.map((i) => i.index)).toEqual([2, 3, 4]);
      });

      it('spreads replicas over addresses while enough are connected, and falls back to one address when not', async () => {
        await register('a@10.0.0.1', 'b@10.0.0.1', 'c@10.0.0.2');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW);
        expect(await lease('a', 1)).not.toBeNull();
        expect(await lease('b', 1)).toBeNull(); // same address, and a device at another address is connected
        await store.deviceOffline('c', NOW);
        expect(await lease('b', 1)).not.toBeNull(); // one address left: distinct identities suffice
        expect((await store.getJob(job.id))?.waitingForDevices).toBeUndefined();
      });

      it('does not count a quarantined device\'s address as one that could take the input', async () => {
        await register('a@10.0.0.1', 'b@10.0.0.1', 'c@10.0.0.2');
        await probe.setDevice('c', { quarantinedAt: NOW });
        await store.registerDevice({ id: 'd', kind: 'node', name: 'd', threads: 1, now: NOW, address: '10.0.0.1' }); // counts again
        await store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW);
        expect(await lease('a', 1)).not.toBeNull();
        expect(await lease('b', 1)).not.toBeNull();
      });

      it('says a job waits when the only devices that may take its input are at the address that ran it', async () => {
        await register('a@10.0.0.1', 'b@10.0.0.1', 'c@10.0.0.2');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate', replication: 3 }), NOW);
        expect(await lease('a', 1)).not.toBeNull();
        expect(await lease('c', 1)).not.toBeNull();
        // Three replicas wanted, two addresses: b may take the third.
        expect((await store.getJob(job.id))?.waitingForDevices).toBeUndefined();
        expect(await lease('b', 1)).not.toBeNull();
      });

      it('runs more replicas on disagreement, accepts the majority and quarantines the device that disagreed', async () => {
        await register('honest1', 'liar', 'honest2', 'other');
        const job = await store.createJob(spec({ inputs: [10], verify: 'replicate', replication: 2 }), NOW);
        await report('honest1', await lease('honest1'));
        const disagreement = await report('liar', await lease('liar'), () => 99);
        expect(disagreement).toMatchObject({ completed: 0, requeued: 1 });
        const third = await lease('honest2');
        expect(third?.items.map((i) => i.index)).toEqual([0]);
        expect(await report('honest2', third)).toMatchObject({ completed: 1, jobsToFinalize: [job.id] });
        expect((await store.getResults(job.id, 0, 1))?.results).toEqual([10]);
        expect(await device('liar')).toMatchObject({ invalid: 1, quarantined: true });
        expect(await device('honest1')).toMatchObject({ valid: 1, quarantined: false });
        await store.createJob(spec({ inputs: [1] }), NOW);
        expect(await lease('liar')).toBeNull(); // quarantined: no more work, of any job
        expect(await lease('other')).not.toBeNull();
      });

      it('gives the work a caught device still holds to others at once', async () => {
        await register('h1', 'liar', 'h2');
        await store.createJob(spec({ inputs: [10], verify: 'replicate' }), NOW);
        await report('h1', await lease('h1'));
        const caughtOn = (await lease('liar'))!;
        const other = await store.createJob(spec({ inputs: [1, 2], verify: 'replicate', priority: -10 }), NOW);
        const held = (await lease('liar'))!; // the liar holds both inputs of the other job
        expect(held.lease.jobId).toBe(other.id);
        await report('liar', caughtOn, () => 99);
        expect(await report('h2', await lease('h2'))).toMatchObject({ completed: 1, requeued: 2 });
        expect(await device('liar')).toMatchObject({ quarantined: true });
        expect(await store.heldCount('c-liar')).toBe(0);
        await report('h1', await lease('h1'));
        expect((await report('h2', await lease('h2'))).completed).toBe(2);
        expect((await store.getJob(other.id))?.progress.completed).toBe(2);
      });

      it('fails the input with no_quorum after 2k replicas without a quorum', async () => {
        await register('a', 'b', 'c', 'd');
        const job = await store.createJob(spec({ inputs: [0], verify: 'replicate', replication: 2 }), NOW);
        let answer = 0;
        const outcomes = [];
        for (const d of ['a', 'b', 'c', 'd']) outcomes.push(await report(d, await lease(d), () => ++answer));
        expect(outcomes.slice(0, 3).every((o) => o.jobsFailed.length === 0)).toBe(true);
        expect(outcomes[3]?.jobsFailed).toEqual([job.id]);
        expect(await store.getJob(job.id)).toMatchObject({ status: 'failed', error: { code: 'no_quorum', input: 0 } });
        expect((await store.getJob(job.id))?.error?.message).toContain('4 results from distinct devices, at most 1 agreeing; 2 must agree');
      });

      it('accepts numbers that agree within the tolerance', async () => {
        await register('a', 'b');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate', tolerance: 1e-9 }), NOW);
        await report('a', await lease('a'), () => ({ y: Math.sin(1e6) }));
        expect((await report('b', await lease('b'), () => ({ y: Math.sin(1e6) * (1 + 1e-15) }))).completed).toBe(1);
        expect((await store.getJob(job.id))?.progress.completed).toBe(1);
      });

      it('accepts with a quorum below k without waiting for the last replica, then judges the late one', async () => {
        await register('a', 'b', 'c');
        const job = await store.createJob(spec({ inputs: [5], verify: 'replicate', replication: 3, quorum: 2 }), NOW);
        const la = await lease('a');
        const lb = await lease('b');
        const lc = await lease('c');
        await report('a', la);
        expect((await report('b', lb)).completed).toBe(1);
        expect((await store.getJob(job.id))?.progress.completed).toBe(1);
        expect(await report('c', lc, () => 6)).toMatchObject({ completed: 0, dropped: 1 });
        expect(await device('c')).toMatchObject({ quarantined: true, invalid: 1 });
      });

      it('says a job waits for devices when every connected device already ran its next input', async () => {
        await register('a');
        const job = await store.createJob(spec({ inputs: [1, 2], verify: 'replicate' }), NOW);
        await report('a', await lease('a'));
        expect((await store.getJob(job.id))?.waitingForDevices).toBe(true);
        expect((await store.getJob(job.id))?.status).toBe('running');
        await register('b');
        expect((await store.getJob(job.id))?.waitingForDevices).toBeUndefined();
        await report('b', await lease('b'));
        expect((await store.getJob(job.id))?.progress.completed).toBe(2);
      });

      it('gives a lost replica back to another device, counting a loss', async () => {
        await register('a', 'b', 'c');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW);
        await report('a', await lease('a'));
        await lease('b');
        expect(await lease('c')).toBeNull();
        expect((await store.releaseConnectionLeases('c-b', NOW)).requeued).toBe(1);
        expect((await report('c', await lease('c'))).completed).toBe(1);
        expect((await store.getJob(job.id))?.progress.completed).toBe(1);
      });

      it('retries a failed replica, and fails the job after maxAttempts errors from two distinct devices', async () => {
        await register('a', 'b');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate', maxAttempts: 2 }), NOW);
        const fail = async (dev: string) => {
          const l = await lease(dev);
          if (!l) throw new Error(`${dev} got no lease`);
          return await store.recordResults(l.lease.id, dev, [{ index: 0, ok: false, code: 'work_error', message: 'boom' }], NOW);
        };
        expect(await fail('a')).toMatchObject({ requeued: 1, jobsFailed: [] });
        expect(await fail('a')).toMatchObject({ requeued: 1, jobsFailed: [] }); // maxAttempts reached, but from one device only
        expect((await store.getJob(job.id))?.status).toBe('running');
        expect((await fail('b')).jobsFailed).toEqual([job.id]);
        expect((await store.getJob(job.id))?.error).toMatchObject({ code: 'work_error', input: 0 });
        expect((await store.getJob(job.id))?.error?.message).toContain('failed 3 time(s) on 2 devices');
      });

      it('a device whose run failed may take the input again, so the job does not wait for a third device', async () => {
        await register('a', 'b');
        const job = await store.createJob(spec({ inputs: [3], verify: 'replicate', maxAttempts: 2 }), NOW);
        for (let i = 0; i < 2; i++) {
          const l = (await lease('a'))!;
          await store.recordResults(l.lease.id, 'a', [{ index: 0, ok: false, code: 'timeout', message: 'slow' }], NOW);
        }
        await report('b', await lease('b'));
        expect((await store.getJob(job.id))?.waitingForDevices).toBeUndefined();
        expect((await report('a', await lease('a'))).completed).toBe(1);
      });

      it('a lone device whose runs keep failing fails the job after twice maxAttempts, instead of looping forever', async () => {
        await register('a');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate', maxAttempts: 2 }), NOW);
        const outcomes = [];
        for (let i = 0; i < 4; i++) {
          const l = (await lease('a'))!;
          outcomes.push(await store.recordResults(l.lease.id, 'a', [{ index: 0, ok: false, code: 'work_error', message: 'always' }], NOW));
        }
        expect(outcomes.map((o) => o.jobsFailed.length)).toEqual([0, 0, 0, 1]);
        expect((await store.getJob(job.id))?.error?.message).toContain('failed 4 time(s) on 1 devices');
      });
    });

    describe('verification edge cases', () => {
      it('does not let jobs waiting for other devices crowd out a job this device can run', async () => {
        await register('a');
        const jobs = [];
        for (let i = 0; i < 25; i++) jobs.push(await store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW));
        for (let i = 0; i < 25; i++) await report('a', await lease('a', 1));
        for (const j of jobs) expect((await store.getJob(j.id))?.waitingForDevices).toBe(true);
        const plain = await store.createJob(spec({ inputs: [7] }), NOW);
        expect((await lease('a'))?.lease.jobId).toBe(plain.id);
      });

      it('does not let jobs this device may not take because of the address rule crowd out the rest', async () => {
        await register('a1@10.0.0.1', 'a2@10.0.0.1', 'b@10.0.0.2');
        const jobs = [];
        for (let i = 0; i < 25; i++) jobs.push(await store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW));
        for (let i = 0; i < 25; i++) await report('a1', await lease('a1', 1));
        for (const j of jobs) expect((await store.getJob(j.id))?.progress.completed).toBe(0);
        const plain = await store.createJob(spec({ inputs: [7, 8] }), NOW);
        expect((await lease('a2'))?.lease.jobId).toBe(plain.id);
      });

      it('with a tolerance, judges a late result against every accepted one, so an honest device near the edge is not quarantined', async () => {
        await register('liar', 'h1', 'h2');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate', replication: 3, quorum: 2, tolerance: 0.01 }), NOW);
        const [ll, l1, l2] = [(await lease('liar')), await lease('h1'), (await lease('h2'))];
        await report('liar', ll, () => 1.0099);
        await report('h1', l1, () => 1.0);
        await report('h2', l2, () => 0.995); // late: agrees with h1 though not with the first result
        const stored = (await store.getResults(job.id, 0, 1))?.results[0] as number;
        expect(Math.abs(stored - 1.0)).toBeLessThanOrEqual(0.01 * 1.0099);
        for (const d of ['liar', 'h1', 'h2']) expect((await device(d))?.quarantined).toBe(false);
      });

      it('with a quorum below a majority, a late result that disagrees with a majority-backed one is punished', async () => {
        await register('a', 'b', 'c', 'd');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate', replication: 4, quorum: 2 }), NOW);
        const [la, lb, lc, ld] = [await lease('a'), await lease('b'), await lease('c'), await lease('d')];
        await report('a', la, () => 1);
        expect((await report('b', lb, () => 1)).completed).toBe(1); // accepted by 2 of 4: no majority yet
        await report('c', lc, () => 1); // now 3 of 4 agree
        await report('d', ld, () => 2);
        expect(await device('d')).toMatchObject({ quarantined: true, invalid: 1 });
        expect((await store.getJob(job.id))?.progress.completed).toBe(1);
      });

      it('with a quorum below a majority, a result that disagrees is disputed, not punished', async () => {
        await register('first', 'second');
        const job = await store.createJob(spec({ inputs: [1], verify: 'replicate', replication: 2, quorum: 1 }), NOW);
        const l1 = await lease('first');
        const l2 = await lease('second');
        expect((await report('first', l1, () => 5)).completed).toBe(1);
        await report('second', l2, () => 1);
        expect(await device('second')).toMatchObject({ quarantined: false, invalid: 0 });
        expect((await store.getJob(job.id))?.progress.completed).toBe(1);
      });
    });

    describe('adaptive jobs', () => {
      /** Makes `dev` trusted: TRUST_STREAK inputs agreed with `helper`. */
      async function earnTrust(dev: string, helper: string): Promise<void> {
        const warmup = await store.createJob(spec({ inputs: Array.from({ length: TRUST_STREAK }, (_, i) => i), verify: 'adaptive' }), NOW);
        await report(dev, await lease(dev, TRUST_STREAK));
        await report(helper, await lease(helper, TRUST_STREAK));
        expect((await store.getJob(warmup.id))?.progress.completed).toBe(TRUST_STREAK);
      }

      it('gives a trusted device single runs, except for spot checks it cannot tell apart', async () => {
        await register('t', 'h');
        await earnTrust('t', 'h');
        const job = await store.createJob(spec({ inputs: [1, 2, 3, 4], verify: 'adaptive' }), NOW);
        coin = 0.05; // below the spot-check rate: the first input is replicated
        const checked = (await lease('t', 1))!;
        coin = 0.5;
        const single = (await lease('t', 3))!;
        expect((await report('t', single)).completed).toBe(3); // accepted alone
        expect((await report('t', checked)).completed).toBe(0); // waits for a second device
        expect((await lease('h'))?.items.map((i) => i.index)).toEqual([0]);
        expect((await store.getJob(job.id))?.progress.completed).toBe(3);
      });

      it('a device caught by one result of a batch gets none of the rest of that batch accepted', async () => {
        await register('t', 'h', 'h2');
        await earnTrust('t', 'h');
        const job = await store.createJob(spec({ inputs: [1, 2, 3], verify: 'adaptive', replication: 3, quorum: 2 }), NOW);
        coins = [0.05, 0.5, 0.5]; // input 0 is a spot check, 1 and 2 run alone
        const batch = (await lease('t'))!;
        await report('h', await lease('h', 1));
        await report('h2', await lease('h2', 1)); // input 0 accepted by h and h2
        const outcome = await report('t', batch, (x) => (x as number) * 100);
        expect(outcome.completed).toBe(0);
        expect(await device('t')).toMatchObject({ quarantined: true });
        expect((await store.getResults(job.id, 0, 3))?.results).toEqual([1, null, null]);
        await report('h', await lease('h'));
        await report('h2', await lease('h2'));
        expect((await store.getResults(job.id, 0, 3))?.results).toEqual([1, 2, 3]);
      });

      it('will not complete a job with an aggregate begun before inputs were run again', async () => {
        await register('t', 'h', 'h2');
        await earnTrust('t', 'h');
        const job = await store.createJob(spec({ inputs: [1, 2], verify: 'adaptive', reduce: 'sum' }), NOW);
        await report('t', await lease('t'), (x) => (x as number) * 100);
        const before = (await store.getJob(job.id))?.rechecked ?? 0; // an aggregation starts here...
        await store.createJob(spec({ inputs: [7], verify: 'adaptive' }), NOW);
        coin = 0.01;
        await report('t', await lease('t'), () => -1);
        await report('h', await lease('h'));
        await report('h2', await lease('h2')); // ...t is caught meanwhile, and its inputs run again
        await report('h', await lease('h'));
        await report('h2', await lease('h2'));
        expect((await store.getJob(job.id))?.progress.completed).toBe(2);
        expect(await store.completeJob(job.id, 300, NOW, before)).toBe(false);
        expect(await store.completeJob(job.id, 3, NOW, (await store.getJob(job.id))?.rechecked)).toBe(true);
      });

      it('a caught liar\'s unchecked value does not stay in a job that failed meanwhile', async () => {
        await register('t', 'h', 'h2');
        await earnTrust('t', 'h');
        const job = await store.createJob(spec({ inputs: [1, 2], verify: 'adaptive' }), NOW);
        await report('t', await lease('t', 1), () => 100); // input 0, unchecked
        expect(await store.failJob(job.id, { code: 'work_error', message: 'x', input: 1 }, NOW)).toBe(true);
        await store.createJob(spec({ inputs: [7], verify: 'adaptive' }), NOW);
        coin = 0.01;
        await report('t', await lease('t'), () => -1);
        await report('h', await lease('h'));
        await report('h2', await lease('h2'));
        expect((await device('t'))?.quarantined).toBe(true);
        expect(await store.getResults(job.id, 0, 2)).toMatchObject({ results: [null, null], missing: [0, 1] });
        expect((await store.getJob(job.id))?.progress.completed).toBe(0);
      });

      it('when an aggregate fails, the results accepted unchecked run again instead of failing the job', async () => {
        await register('t', 'h', 'h2');
        await earnTrust('t', 'h');
        const job = await store.createJob(spec({ inputs: [1, 2], verify: 'adaptive', reduce: 'sum' }), NOW);
        await report('t', await lease('t'), () => 1e308); // finite each, but their sum is not
        expect((await store.getJob(job.id))?.progress.completed).toBe(2);
        expect(await store.reopenUnchecked(job.id)).toBe(2);
        expect(await store.getJob(job.id)).toMatchObject({ status: 'running', progress: { completed: 0 }, rechecked: 2 });
        await report('h', await lease('h'));
        expect((await report('h2', await lease('h2'))).jobsToFinalize).toEqual([job.id]);
        expect((await store.getResults(job.id, 0, 2))?.results).toEqual([1, 2]);
        expect(await store.reopenUnchecked(job.id)).toBe(0); // all checked now: a failure would stand
      });

      it('a caught liar has every result it returned unchecked run again, reopening a completed job', async () => {
        await register('t', 'h', 'h2');
        await earnTrust('t', 'h');
        coin = 0.5;
        const job = await store.createJob(spec({ inputs: [1, 2, 3], verify: 'adaptive', reduce: 'sum' }), NOW);
        await report('t', await lease('t'), (x) => (x as number) * 100); // lies, unchecked
        expect((await store.getJob(job.id))?.progress.completed).toBe(3);
        expect(await store.completeJob(job.id, 600, NOW)).toBe(true);
        // A spot check in another job catches it.
        const other = await store.createJob(spec({ inputs: [7], verify: 'adaptive' }), NOW);
        coin = 0.01;
        await report('t', await lease('t'), () => -1);
        const caught = await report('h', await lease('h'));
        expect(caught.completed).toBe(0);
        await report('h2', await lease('h2'));
        expect(await device('t')).toMatchObject({ quarantined: true });
        const reopened = await store.getJob(job.id);
        expect(reopened).toMatchObject({ status: 'running', progress: { completed: 0 }, rechecked: 3 });
        expect(reopened?.result).toBeUndefined();
        expect((await store.getResults(job.id, 0, 3))?.missing).toEqual([0, 1, 2]);
        expect((await store.getJob(other.id))?.progress.completed).toBe(1);
        // The reopened inputs are replicated like any other, on honest devices.
        await report('h', await lease('h'));
        expect((await report('h2', await lease('h2'))).jobsToFinalize).toEqual([job.id]);
        expect((await store.getResults(job.id, 0, 3))?.results).toEqual([1, 2, 3]);
      });
    });

    describe('deleting a verified job', () => {
      it('removes its replicas with its other rows', async () => {
        await register('a', 'b');
        const job = await store.createJob(spec({ inputs: [1, 2, 3], verify: 'replicate' }), NOW);
        await report('a', await lease('a'));
        await lease('b');
        const replicas = () => probe.rows('replicas');
        expect(await replicas()).toBe(6);
        expect(await store.deleteJob(job.id)).toBe(true);
        while ((await store.purgeStep(2)) > 0);
        expect(await replicas()).toBe(0);
        expect(await probe.rows('jobs')).toBe(0);
      });
    });

    describe('lifting a quarantine', () => {
      it('lets the device work again, its streak of valid results starting from 0', async () => {
        await register('a');
        await probe.setDevice('a', { quarantinedAt: NOW, streak: 50 });
        await store.createJob(spec({ inputs: [1] }), NOW);
        expect(await lease('a')).toBeNull();
        expect(await store.releaseQuarantine('a')).toBe(true);
        expect(await store.releaseQuarantine('a')).toBe(false);
        expect(await probe.streak('a')).toBe(0);
        expect(await lease('a')).not.toBeNull();
      });
    });
  });
}
