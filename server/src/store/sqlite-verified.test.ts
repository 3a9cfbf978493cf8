/** Verified jobs in the SQLite store (real file): distinct devices, quorum, more replicas, no_quorum, quarantine, adaptive rechecks. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobSpec, type JobSpec, type JsonValue } from '@edgeswarm/shared';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { TRUST_STREAK } from './sqlite-verified.ts';
import type { ActiveLease, CheckedResult } from './job-store.ts';

let dir: string;
let store: SqliteJobStore;
let coin = 0.5;
/** Random draws to use before `coin` (spot-check decisions, one per fresh input of a trusted device). */
let coins: number[] = [];
const NOW = Date.UTC(2026, 0, 1);

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec({ code: '(x) => x', ...body });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

/** Devices connect, each from its own address unless one is given as `id@address`. */
function register(...ids: string[]): void {
  for (const spec of ids) {
    const [id = spec, address = `addr-${spec}`] = spec.split('@');
    addresses.set(id, address);
    store.registerDevice({ id, kind: 'node', name: id, threads: 1, now: NOW, address });
  }
}
const addresses = new Map<string, string>();

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

const device = (id: string) => store.listDevices(0, 100).items.find((d) => d.id === id);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-verify-'));
  coin = 0.5;
  coins = [];
  addresses.clear();
  store = new SqliteJobStore(join(dir, 'edgeswarm.db'), { random: () => coins.shift() ?? coin });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('replicated jobs', () => {
  it('runs each input on k distinct devices and accepts it when the quorum agrees', () => {
    register('a', 'b', 'c');
    const job = store.createJob(spec({ inputs: [1, 2, 3], verify: 'replicate', replication: 2 }), NOW);
    const first = lease('a');
    expect(first?.items.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(lease('a')).toBeNull(); // never two replicas of one input on one device
    expect(report('a', first).completed).toBe(0);
    expect(store.getJob(job.id)?.progress.completed).toBe(0);
    const second = lease('b');
    expect(second?.items.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(lease('c')).toBeNull(); // every input has its two replicas
    const outcome = report('b', second);
    expect(outcome).toMatchObject({ completed: 3, jobsToFinalize: [job.id] });
    expect(store.getResults(job.id, 0, 10)?.results).toEqual([1, 2, 3]);
    expect(device('a')).toMatchObject({ valid: 3, invalid: 0, quarantined: false });
  });

  it('prefers inputs already started, so replicas pair up instead of spreading over the job', () => {
    register('a', 'b');
    store.createJob(spec({ inputs: [1, 2, 3, 4, 5, 6], verify: 'replicate' }), NOW);
    expect(lease('a', 2)?.items.map((i) => i.index)).toEqual([0, 1]);
    expect(lease('b', 3)?.items.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(lease('a', 3)?.items.map((i) => i.index)).toEqual([2, 3, 4]);
  });

  it('spreads replicas over addresses while enough are connected, and falls back to one address when not', () => {
    register('a@10.0.0.1', 'b@10.0.0.1', 'c@10.0.0.2');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW);
    expect(lease('a', 1)).not.toBeNull();
    expect(lease('b', 1)).toBeNull(); // same address, and a device at another address is connected
    store.deviceOffline('c', NOW);
    expect(lease('b', 1)).not.toBeNull(); // one address left: distinct identities suffice
    expect(store.getJob(job.id)?.waitingForDevices).toBeUndefined();
  });

  it('does not count a quarantined device\'s address as one that could take the input', () => {
    register('a@10.0.0.1', 'b@10.0.0.1', 'c@10.0.0.2');
    store.db.prepare('UPDATE devices SET quarantined_at = ? WHERE id = ?').run(NOW, 'c');
    store.registerDevice({ id: 'd', kind: 'node', name: 'd', threads: 1, now: NOW, address: '10.0.0.1' }); // counts again
    store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW);
    expect(lease('a', 1)).not.toBeNull();
    expect(lease('b', 1)).not.toBeNull();
  });

  it('says a job waits when the only devices that may take its input are at the address that ran it', () => {
    register('a@10.0.0.1', 'b@10.0.0.1', 'c@10.0.0.2');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate', replication: 3 }), NOW);
    expect(lease('a', 1)).not.toBeNull();
    expect(lease('c', 1)).not.toBeNull();
    // Three replicas wanted, two addresses: b may take the third.
    expect(store.getJob(job.id)?.waitingForDevices).toBeUndefined();
    expect(lease('b', 1)).not.toBeNull();
  });

  it('runs more replicas on disagreement, accepts the majority and quarantines the device that disagreed', () => {
    register('honest1', 'liar', 'honest2', 'other');
    const job = store.createJob(spec({ inputs: [10], verify: 'replicate', replication: 2 }), NOW);
    report('honest1', lease('honest1'));
    const disagreement = report('liar', lease('liar'), () => 99);
    expect(disagreement).toMatchObject({ completed: 0, requeued: 1 });
    const third = lease('honest2');
    expect(third?.items.map((i) => i.index)).toEqual([0]);
    expect(report('honest2', third)).toMatchObject({ completed: 1, jobsToFinalize: [job.id] });
    expect(store.getResults(job.id, 0, 1)?.results).toEqual([10]);
    expect(device('liar')).toMatchObject({ invalid: 1, quarantined: true });
    expect(device('honest1')).toMatchObject({ valid: 1, quarantined: false });
    store.createJob(spec({ inputs: [1] }), NOW);
    expect(lease('liar')).toBeNull(); // quarantined: no more work, of any job
    expect(lease('other')).not.toBeNull();
  });

  it('gives the work a caught device still holds to others at once', () => {
    register('h1', 'liar', 'h2');
    store.createJob(spec({ inputs: [10], verify: 'replicate' }), NOW);
    report('h1', lease('h1'));
    const caughtOn = lease('liar')!;
    const other = store.createJob(spec({ inputs: [1, 2], verify: 'replicate', priority: -10 }), NOW);
    const held = lease('liar')!; // the liar holds both inputs of the other job
    expect(held.lease.jobId).toBe(other.id);
    report('liar', caughtOn, () => 99);
    expect(report('h2', lease('h2'))).toMatchObject({ completed: 1, requeued: 2 });
    expect(device('liar')).toMatchObject({ quarantined: true });
    expect(store.heldCount('c-liar')).toBe(0);
    report('h1', lease('h1'));
    expect(report('h2', lease('h2')).completed).toBe(2);
    expect(store.getJob(other.id)?.progress.completed).toBe(2);
  });

  it('fails the input with no_quorum after 2k replicas without a quorum', () => {
    register('a', 'b', 'c', 'd');
    const job = store.createJob(spec({ inputs: [0], verify: 'replicate', replication: 2 }), NOW);
    let answer = 0;
    const outcomes = ['a', 'b', 'c', 'd'].map((d) => report(d, lease(d), () => ++answer));
    expect(outcomes.slice(0, 3).every((o) => o.jobsFailed.length === 0)).toBe(true);
    expect(outcomes[3]?.jobsFailed).toEqual([job.id]);
    expect(store.getJob(job.id)).toMatchObject({ status: 'failed', error: { code: 'no_quorum', input: 0 } });
    expect(store.getJob(job.id)?.error?.message).toContain('4 results from distinct devices, at most 1 agreeing; 2 must agree');
  });

  it('accepts numbers that agree within the tolerance', () => {
    register('a', 'b');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate', tolerance: 1e-9 }), NOW);
    report('a', lease('a'), () => ({ y: Math.sin(1e6) }));
    expect(report('b', lease('b'), () => ({ y: Math.sin(1e6) * (1 + 1e-15) })).completed).toBe(1);
    expect(store.getJob(job.id)?.progress.completed).toBe(1);
  });

  it('accepts with a quorum below k without waiting for the last replica, then judges the late one', () => {
    register('a', 'b', 'c');
    const job = store.createJob(spec({ inputs: [5], verify: 'replicate', replication: 3, quorum: 2 }), NOW);
    const la = lease('a');
    const lb = lease('b');
    const lc = lease('c');
    report('a', la);
    expect(report('b', lb).completed).toBe(1);
    expect(store.getJob(job.id)?.progress.completed).toBe(1);
    expect(report('c', lc, () => 6)).toMatchObject({ completed: 0, dropped: 1 });
    expect(device('c')).toMatchObject({ quarantined: true, invalid: 1 });
  });

  it('says a job waits for devices when every connected device already ran its next input', () => {
    register('a');
    const job = store.createJob(spec({ inputs: [1, 2], verify: 'replicate' }), NOW);
    report('a', lease('a'));
    expect(store.getJob(job.id)?.waitingForDevices).toBe(true);
    expect(store.getJob(job.id)?.status).toBe('running');
    register('b');
    expect(store.getJob(job.id)?.waitingForDevices).toBeUndefined();
    report('b', lease('b'));
    expect(store.getJob(job.id)?.progress.completed).toBe(2);
  });

  it('gives a lost replica back to another device, counting a loss', () => {
    register('a', 'b', 'c');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW);
    report('a', lease('a'));
    lease('b');
    expect(lease('c')).toBeNull();
    expect(store.releaseConnectionLeases('c-b', NOW).requeued).toBe(1);
    expect(report('c', lease('c')).completed).toBe(1);
    expect(store.getJob(job.id)?.progress.completed).toBe(1);
  });

  it('retries a failed replica, and fails the job after maxAttempts errors from two distinct devices', () => {
    register('a', 'b');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate', maxAttempts: 2 }), NOW);
    const fail = (dev: string) => {
      const l = lease(dev);
      if (!l) throw new Error(`${dev} got no lease`);
      return store.recordResults(l.lease.id, dev, [{ index: 0, ok: false, code: 'work_error', message: 'boom' }], NOW);
    };
    expect(fail('a')).toMatchObject({ requeued: 1, jobsFailed: [] });
    expect(fail('a')).toMatchObject({ requeued: 1, jobsFailed: [] }); // maxAttempts reached, but from one device only
    expect(store.getJob(job.id)?.status).toBe('running');
    expect(fail('b').jobsFailed).toEqual([job.id]);
    expect(store.getJob(job.id)?.error).toMatchObject({ code: 'work_error', input: 0 });
    expect(store.getJob(job.id)?.error?.message).toContain('failed 3 time(s) on 2 devices');
  });

  it('a device whose run failed may take the input again, so the job does not wait for a third device', () => {
    register('a', 'b');
    const job = store.createJob(spec({ inputs: [3], verify: 'replicate', maxAttempts: 2 }), NOW);
    for (let i = 0; i < 2; i++) {
      const l = lease('a')!;
      store.recordResults(l.lease.id, 'a', [{ index: 0, ok: false, code: 'timeout', message: 'slow' }], NOW);
    }
    report('b', lease('b'));
    expect(store.getJob(job.id)?.waitingForDevices).toBeUndefined();
    expect(report('a', lease('a')).completed).toBe(1);
  });

  it('a lone device whose runs keep failing fails the job after twice maxAttempts, instead of looping forever', () => {
    register('a');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate', maxAttempts: 2 }), NOW);
    const outcomes = [0, 1, 2, 3].map(() => {
      const l = lease('a')!;
      return store.recordResults(l.lease.id, 'a', [{ index: 0, ok: false, code: 'work_error', message: 'always' }], NOW);
    });
    expect(outcomes.map((o) => o.jobsFailed.length)).toEqual([0, 0, 0, 1]);
    expect(store.getJob(job.id)?.error?.message).toContain('failed 4 time(s) on 1 devices');
  });
});

describe('verification edge cases', () => {
  it('does not let jobs waiting for other devices crowd out a job this device can run', () => {
    register('a');
    const jobs = Array.from({ length: 25 }, () => store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW));
    for (let i = 0; i < 25; i++) report('a', lease('a', 1));
    expect(jobs.every((j) => store.getJob(j.id)?.waitingForDevices === true)).toBe(true);
    const plain = store.createJob(spec({ inputs: [7] }), NOW);
    expect(lease('a')?.lease.jobId).toBe(plain.id);
  });

  it('does not let jobs this device may not take because of the address rule crowd out the rest', () => {
    register('a1@10.0.0.1', 'a2@10.0.0.1', 'b@10.0.0.2');
    const jobs = Array.from({ length: 25 }, () => store.createJob(spec({ inputs: [1], verify: 'replicate' }), NOW));
    for (let i = 0; i < 25; i++) report('a1', lease('a1', 1));
    expect(jobs.every((j) => store.getJob(j.id)?.progress.completed === 0)).toBe(true);
    const plain = store.createJob(spec({ inputs: [7, 8] }), NOW);
    expect(lease('a2')?.lease.jobId).toBe(plain.id);
  });

  it('with a tolerance, judges a late result against every accepted one, so an honest device near the edge is not quarantined', () => {
    register('liar', 'h1', 'h2');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate', replication: 3, quorum: 2, tolerance: 0.01 }), NOW);
    const [ll, l1, l2] = [lease('liar'), lease('h1'), lease('h2')];
    report('liar', ll, () => 1.0099);
    report('h1', l1, () => 1.0);
    report('h2', l2, () => 0.995); // late: agrees with h1 though not with the first result
    const stored = store.getResults(job.id, 0, 1)?.results[0] as number;
    expect(Math.abs(stored - 1.0)).toBeLessThanOrEqual(0.01 * 1.0099);
    expect(['liar', 'h1', 'h2'].map((d) => device(d)?.quarantined)).toEqual([false, false, false]);
  });

  it('with a quorum below a majority, a late result that disagrees with a majority-backed one is punished', () => {
    register('a', 'b', 'c', 'd');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate', replication: 4, quorum: 2 }), NOW);
    const [la = null, lb = null, lc = null, ld = null] = ['a', 'b', 'c', 'd'].map((dev) => lease(dev));
    report('a', la, () => 1);
    expect(report('b', lb, () => 1).completed).toBe(1); // accepted by 2 of 4: no majority yet
    report('c', lc, () => 1); // now 3 of 4 agree
    report('d', ld, () => 2);
    expect(device('d')).toMatchObject({ quarantined: true, invalid: 1 });
    expect(store.getJob(job.id)?.progress.completed).toBe(1);
  });

  it('with a quorum below a majority, a result that disagrees is disputed, not punished', () => {
    register('first', 'second');
    const job = store.createJob(spec({ inputs: [1], verify: 'replicate', replication: 2, quorum: 1 }), NOW);
    const l1 = lease('first');
    const l2 = lease('second');
    expect(report('first', l1, () => 5).completed).toBe(1);
    report('second', l2, () => 1);
    expect(device('second')).toMatchObject({ quarantined: false, invalid: 0 });
    expect(store.getJob(job.id)?.progress.completed).toBe(1);
  });
});

describe('adaptive jobs', () => {
  /** Makes `dev` trusted: TRUST_STREAK inputs agreed with `helper`. */
  function earnTrust(dev: string, helper: string): void {
    const warmup = store.createJob(spec({ inputs: Array.from({ length: TRUST_STREAK }, (_, i) => i), verify: 'adaptive' }), NOW);
    report(dev, lease(dev, TRUST_STREAK));
    report(helper, lease(helper, TRUST_STREAK));
    expect(store.getJob(warmup.id)?.progress.completed).toBe(TRUST_STREAK);
  }

  it('gives a trusted device single runs, except for spot checks it cannot tell apart', () => {
    register('t', 'h');
    earnTrust('t', 'h');
    const job = store.createJob(spec({ inputs: [1, 2, 3, 4], verify: 'adaptive' }), NOW);
    coin = 0.05; // below the spot-check rate: the first input is replicated
    const checked = lease('t', 1)!;
    coin = 0.5;
    const single = lease('t', 3)!;
    expect(report('t', single).completed).toBe(3); // accepted alone
    expect(report('t', checked).completed).toBe(0); // waits for a second device
    expect(lease('h')?.items.map((i) => i.index)).toEqual([0]);
    expect(store.getJob(job.id)?.progress.completed).toBe(3);
  });

  it('a device caught by one result of a batch gets none of the rest of that batch accepted', () => {
    register('t', 'h', 'h2');
    earnTrust('t', 'h');
    const job = store.createJob(spec({ inputs: [1, 2, 3], verify: 'adaptive', replication: 3, quorum: 2 }), NOW);
    coins = [0.05, 0.5, 0.5]; // input 0 is a spot check, 1 and 2 run alone
    const batch = lease('t')!;
    report('h', lease('h', 1));
    report('h2', lease('h2', 1)); // input 0 accepted by h and h2
    const outcome = report('t', batch, (x) => (x as number) * 100);
    expect(outcome.completed).toBe(0);
    expect(device('t')).toMatchObject({ quarantined: true });
    expect(store.getResults(job.id, 0, 3)?.results).toEqual([1, null, null]);
    report('h', lease('h'));
    report('h2', lease('h2'));
    expect(store.getResults(job.id, 0, 3)?.results).toEqual([1, 2, 3]);
  });

  it('will not complete a job with an aggregate begun before inputs were run again', () => {
    register('t', 'h', 'h2');
    earnTrust('t', 'h');
    const job = store.createJob(spec({ inputs: [1, 2], verify: 'adaptive', reduce: 'sum' }), NOW);
    report('t', lease('t'), (x) => (x as number) * 100);
    const before = store.getJob(job.id)?.rechecked ?? 0; // an aggregation starts here...
    store.createJob(spec({ inputs: [7], verify: 'adaptive' }), NOW);
    coin = 0.01;
    report('t', lease('t'), () => -1);
    report('h', lease('h'));
    report('h2', lease('h2')); // ...t is caught meanwhile, and its inputs run again
    report('h', lease('h'));
    report('h2', lease('h2'));
    expect(store.getJob(job.id)?.progress.completed).toBe(2);
    expect(store.completeJob(job.id, 300, NOW, before)).toBe(false);
    expect(store.completeJob(job.id, 3, NOW, store.getJob(job.id)?.rechecked)).toBe(true);
  });

  it('a caught liar\'s unchecked value does not stay in a job that failed meanwhile', () => {
    register('t', 'h', 'h2');
    earnTrust('t', 'h');
    const job = store.createJob(spec({ inputs: [1, 2], verify: 'adaptive' }), NOW);
    report('t', lease('t', 1), () => 100); // input 0, unchecked
    expect(store.failJob(job.id, { code: 'work_error', message: 'x', input: 1 }, NOW)).toBe(true);
    store.createJob(spec({ inputs: [7], verify: 'adaptive' }), NOW);
    coin = 0.01;
    report('t', lease('t'), () => -1);
    report('h', lease('h'));
    report('h2', lease('h2'));
    expect(device('t')?.quarantined).toBe(true);
    expect(store.getResults(job.id, 0, 2)).toMatchObject({ results: [null, null], missing: [0, 1] });
    expect(store.getJob(job.id)?.progress.completed).toBe(0);
  });

  it('when an aggregate fails, the results accepted unchecked run again instead of failing the job', () => {
    register('t', 'h', 'h2');
    earnTrust('t', 'h');
    const job = store.createJob(spec({ inputs: [1, 2], verify: 'adaptive', reduce: 'sum' }), NOW);
    report('t', lease('t'), () => 1e308); // finite each, but their sum is not
    expect(store.getJob(job.id)?.progress.completed).toBe(2);
    expect(store.reopenUnchecked(job.id)).toBe(2);
    expect(store.getJob(job.id)).toMatchObject({ status: 'running', progress: { completed: 0 }, rechecked: 2 });
    report('h', lease('h'));
    expect(report('h2', lease('h2')).jobsToFinalize).toEqual([job.id]);
    expect(store.getResults(job.id, 0, 2)?.results).toEqual([1, 2]);
    expect(store.reopenUnchecked(job.id)).toBe(0); // all checked now: a failure would stand
  });

  it('a caught liar has every result it returned unchecked run again, reopening a completed job', () => {
    register('t', 'h', 'h2');
    earnTrust('t', 'h');
    coin = 0.5;
    const job = store.createJob(spec({ inputs: [1, 2, 3], verify: 'adaptive', reduce: 'sum' }), NOW);
    report('t', lease('t'), (x) => (x as number) * 100); // lies, unchecked
    expect(store.getJob(job.id)?.progress.completed).toBe(3);
    expect(store.completeJob(job.id, 600, NOW)).toBe(true);
    // A spot check in another job catches it.
    const other = store.createJob(spec({ inputs: [7], verify: 'adaptive' }), NOW);
    coin = 0.01;
    report('t', lease('t'), () => -1);
    const caught = report('h', lease('h'));
    expect(caught.completed).toBe(0);
    report('h2', lease('h2'));
    expect(device('t')).toMatchObject({ quarantined: true });
    const reopened = store.getJob(job.id);
    expect(reopened).toMatchObject({ status: 'running', progress: { completed: 0 }, rechecked: 3 });
    expect(reopened?.result).toBeUndefined();
    expect(store.getResults(job.id, 0, 3)?.missing).toEqual([0, 1, 2]);
    expect(store.getJob(other.id)?.progress.completed).toBe(1);
    // The reopened inputs are replicated like any other, on honest devices.
    report('h', lease('h'));
    expect(report('h2', lease('h2')).jobsToFinalize).toEqual([job.id]);
    expect(store.getResults(job.id, 0, 3)?.results).toEqual([1, 2, 3]);
  });
});

describe('deleting a verified job', () => {
  it('removes its replicas with its other rows', () => {
    register('a', 'b');
    const job = store.createJob(spec({ inputs: [1, 2, 3], verify: 'replicate' }), NOW);
    report('a', lease('a'));
    lease('b');
    const replicas = () => (store.db.prepare('SELECT count(*) AS n FROM replicas').get() as { n: number }).n;
    expect(replicas()).toBe(6);
    expect(store.deleteJob(job.id)).toBe(true);
    while (store.purgeStep(2) > 0);
    expect(replicas()).toBe(0);
    expect((store.db.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n).toBe(0);
  });
});

describe('lifting a quarantine', () => {
  it('lets the device work again, its streak of valid results starting from 0', () => {
    register('a');
    store.db.prepare('UPDATE devices SET quarantined_at = ?, streak = 50 WHERE id = ?').run(NOW, 'a');
    store.createJob(spec({ inputs: [1] }), NOW);
    expect(lease('a')).toBeNull();
    expect(store.releaseQuarantine('a')).toBe(true);
    expect(store.releaseQuarantine('a')).toBe(false);
    expect((store.db.prepare('SELECT streak FROM devices WHERE id = ?').get('a') as { streak: number }).streak).toBe(0);
    expect(lease('a')).not.toBeNull();
  });
});
