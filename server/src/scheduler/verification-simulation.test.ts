/**
 * Lying devices against result verification, over the real WorkService and SQLite store: how many
 * wrong results reach completed jobs with `replicate` and `adaptive`, and what verification costs.
 * Every step also checks the store's verification invariants (checkVerifiedInvariants), here with
 * devices vanishing, keeping leases silently, and the hub restarting.
 */
import { describe, expect, it } from 'vitest';
import { SPOT_CHECK_RATE } from '../verification/quorum.ts';
import { deriveSeed } from './sim-random.ts';
import { many, runVerification, type Behaviour, type VerifySimReport } from './verification-simulation.ts';

const BASE_SEED = 0x7e21_f1ed;
const seeds = (n: number, salt: number) => Array.from({ length: n }, (_, i) => deriveSeed(BASE_SEED + salt, i));
/** Runs `f` on each item, one after another (each run is seeded on its own). */
async function each<T, R>(items: T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await f(item));
  return out;
}
const sum = (reports: VerifySimReport[], key: 'liesTold' | 'wrongAccepted' | 'liesByFree' | 'rechecked') =>
  reports.reduce((s, r) => s + r[key], 0);

describe('replicate: liars fewer than the quorum never get a wrong result accepted', () => {
  const reports: VerifySimReport[] = [];
  const cases = seeds(12, 1).map((seed, i) => {
    const replication = 2 + (i % 2); // k = 2 and k = 3
    const quorum = replication; // colluders below: quorum - 1 of them
    const fleet: Behaviour[] = [
      ...many(6, { kind: 'honest' }),
      ...many(1 + (i % 3), { kind: 'liar', rate: [0.1, 0.5, 1][i % 3] as number }),
      ...many(quorum - 1, { kind: 'colluder', rate: 0.5 }),
    ];
    return { seed, replication, quorum, fleet };
  });

  for (const c of cases) {
    it(`seed ${c.seed}: k=${c.replication}, quorum ${c.quorum}, ${c.fleet.length - 6} liars`, async () => {
      const r = await runVerification({ seed: c.seed, verify: 'replicate', replication: c.replication, quorum: c.quorum, fleet: c.fleet, jobs: 3, inputsPerJob: 150, lossRate: 0.03, silentRate: 0.03, restartRate: 0.02 });
      reports.push(r);
      expect(r.liesTold, 'the liars lied').toBeGreaterThan(0);
      expect(r.wrongAccepted).toBe(0);
      expect(r.wrongAggregates).toBe(0);
      // Every job ends; one may fail with no_quorum when liars alone fill an input's 2k replicas.
      expect(r.unfinishedJobs).toBe(0);
      expect(r.failedCodes.every((code) => code === 'no_quorum'), r.failedCodes.join()).toBe(true);
      expect(r.quarantined.honest, 'no honest device is quarantined').toBe(0);
      if (r.failedJobs === 0) expect(r.runsPerInput).toBeGreaterThanOrEqual(c.replication);
    });
  }

  it('caught every liar that lied, over all seeds, and completed most jobs', async () => {
    expect(reports).toHaveLength(cases.length);
    expect(reports.reduce((n, r) => n + r.completedJobs, 0)).toBeGreaterThan(cases.length * 2);
    expect(sum(reports, 'liesTold')).toBeGreaterThan(0);
    expect(reports.every((r) => r.liarsFree === 0)).toBe(true);
    expect(reports.reduce((n, r) => n + r.restarts, 0), 'the hub restarted in some runs').toBeGreaterThan(0);
    console.log(
      `replicate: ${reports.length} runs, ${cases.reduce((s, c) => s + c.fleet.length - 6, 0)} liars, ${sum(reports, 'liesTold')} lies, ` +
        `${sum(reports, 'wrongAccepted')} wrong results accepted, ${reports.reduce((n, r) => n + r.failedJobs, 0)} of ${reports.length * 3} jobs failed with no_quorum`,
    );
  });
});

describe('replicate: colluders as many as the quorum can win (the stated limit)', () => {
  it('accepts some wrong results when two always-lying colluders meet on an input, k = quorum = 2', async () => {
    const reports = await each(seeds(4, 2), (seed) =>
      runVerification({ seed, verify: 'replicate', fleet: [...many(2, { kind: 'honest' }), ...many(2, { kind: 'colluder', rate: 1 })], jobs: 2, inputsPerJob: 100 }),
    );
    expect(sum(reports, 'wrongAccepted')).toBeGreaterThan(0);
  });
});

describe('adaptive', () => {
  it('costs an honest fleet far less than plain k = 2, and accepts nothing wrong', async () => {
    const fleet = many(10, { kind: 'honest' });
    const runs = await each(seeds(3, 3), async (seed) => ({
      replicate: await runVerification({ seed, verify: 'replicate', fleet, jobs: 6, inputsPerJob: 500, checkInvariants: false }),
      adaptive: await runVerification({ seed, verify: 'adaptive', fleet, jobs: 6, inputsPerJob: 500, checkInvariants: false }),
    }));
    for (const { replicate, adaptive } of runs) {
      expect(replicate.runsPerInput).toBe(2);
      expect(adaptive.wrongAccepted).toBe(0);
      expect(adaptive.completedJobs).toBe(6);
      // Single runs plus spot checks (1 + rate) once trusted; the first TRUST_STREAK results per device are replicated.
      expect(adaptive.runsPerInput).toBeLessThan(1.3);
      expect(adaptive.runsPerInput).toBeGreaterThan(1 + SPOT_CHECK_RATE / 2);
    }
    console.log(`adaptive on 10 honest devices, 3000 inputs: runs per input ${runs.map((r) => r.adaptive.runsPerInput.toFixed(3)).join(', ')} (replicate k=2: 2)`);
  });

  it('liars that lie from the start never earn single runs: nothing wrong is accepted', async () => {
    for (const seed of seeds(4, 4)) {
      const r = await runVerification({
        seed,
        verify: 'adaptive',
        fleet: [...many(6, { kind: 'honest' }), ...many(2, { kind: 'liar', rate: 0.3 })],
        jobs: 3,
        inputsPerJob: 200,
      });
      expect(r.liesTold).toBeGreaterThan(0);
      expect(r.wrongAccepted).toBe(0);
      expect(r.quarantined.honest).toBe(0);
    }
  });

  it('keeps its books straight with liars, turncoats, lost devices, silent leases and hub restarts', async () => {
    const reports = await each(seeds(6, 6), (seed) =>
      runVerification({
        seed,
        verify: 'adaptive',
        fleet: [...many(6, { kind: 'honest' }), ...many(2, { kind: 'turncoat', after: 20, lies: 3 }), ...many(1, { kind: 'liar', rate: 0.2 })],
        jobs: 3,
        inputsPerJob: 200,
        lossRate: 0.05,
        silentRate: 0.05,
        restartRate: 0.03,
      }),
    );
    for (const r of reports) {
      expect(r.unfinishedJobs).toBe(0);
      expect(r.quarantined.honest).toBe(0);
      expect(r.wrongAccepted).toBeLessThanOrEqual(r.liesByFree);
    }
    expect(reports.reduce((n, r) => n + r.restarts, 0)).toBeGreaterThan(0);
  });

  it('a turncoat caught by a spot check leaves no wrong value in any completed job; one never caught escapes with probability at most 0.9^lies', async () => {
    const LIES = 5;
    const reports = await each(seeds(24, 5), (seed) =>
      runVerification({
        seed,
        verify: 'adaptive',
        fleet: [...many(8, { kind: 'honest' }), ...many(3, { kind: 'turncoat', after: 30, lies: LIES })],
        jobs: 4,
        inputsPerJob: 300,
        checkInvariants: false,
      }),
    );
    let turncoats = 0;
    let caught = 0;
    for (const r of reports) {
      turncoats += 3;
      caught += r.quarantined.turncoat;
      expect(r.quarantined.honest).toBe(0);
      expect(r.unfinishedJobs).toBe(0);
      // Every wrong value left belongs to a turncoat that was never caught.
      expect(r.wrongAccepted).toBeLessThanOrEqual(r.liesByFree);
    }
    const escaped = (turncoats - caught) / turncoats;
    const bound = (1 - SPOT_CHECK_RATE) ** LIES;
    console.log(
      `adaptive: ${turncoats} turncoats lying ${LIES} times each after 30 honest results: ${caught} caught, escape rate ${escaped.toFixed(3)} ` +
        `(bound ${bound.toFixed(3)}), ${sum(reports, 'rechecked')} inputs rechecked, ${sum(reports, 'wrongAccepted')} wrong results kept of ${sum(reports, 'liesTold')} lies`,
    );
    expect(caught).toBeGreaterThan(0);
    expect(sum(reports, 'rechecked')).toBeGreaterThan(0);
    expect(escaped).toBeLessThanOrEqual(bound);
  });
});
