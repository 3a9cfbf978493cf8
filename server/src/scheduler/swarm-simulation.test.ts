/**
 * Seeded swarm simulation: many virtual devices (joining, reconnecting, crashing, flaky, slow,
 * submitting late, split, out of order and twice) drive the real WorkService over a real SQLite
 * file while a ManualClock moves and the hub restarts; invariants are checked after every step.
 *
 * Replay one seed: SWARM_SEED=123456 npx vitest run server/src/scheduler/swarm-simulation.test.ts
 */
import { describe, expect, it } from 'vitest';
import { deriveSeed, runSwarm, type SimReport } from './swarm-simulation.ts';

const BASE_SEED = 0x5eed_2026;
const SEED_COUNT = 20;
const STEPS = 160;

const replay = process.env['SWARM_SEED'];
if (replay !== undefined && replay !== '' && !/^(\d+|0x[0-9a-f]+)$/i.test(replay)) {
  throw new Error(`SWARM_SEED must be an unsigned integer, not ${JSON.stringify(replay)}`);
}
const seeds =
  replay !== undefined && replay !== ''
    ? [Number(replay) >>> 0]
    : Array.from({ length: SEED_COUNT }, (_, n) => deriveSeed(BASE_SEED, n));

/** Runs a seed; the SimulationFailure message already names the seed, this keeps it on any other error too. */
async function simulate(seed: number, steps = STEPS): Promise<SimReport> {
  let report: SimReport;
  try {
    report = await runSwarm({ seed, steps });
  } catch (err) {
    if (err instanceof Error && !err.message.includes(`seed ${seed}`)) err.message = `[swarm seed ${seed}] ${err.message}`;
    throw err;
  }
  const where = `swarm seed ${seed} (replay: SWARM_SEED=${seed})`;
  expect(report.completed + report.failed + report.cancelled + report.deleted, `${where}: every job ends while devices remain`).toBe(report.jobs);
  expect(report.lostResults, `${where}: lost results`).toBe(0);
  expect(report.duplicatedCounts, `${where}: results counted twice`).toBe(0);
  expect(report.unexpectedResults, `${where}: results that differ from f(input)`).toBe(0);
  return report;
}

describe('swarm simulation over the real WorkService and SQLite store', () => {
  const reports: SimReport[] = [];

  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      reports.push(await simulate(seed));
    });
  }

  it.skipIf(seeds.length < SEED_COUNT)('exercises every path it means to across the seeds', () => {
    const total = (key: keyof SimReport) => reports.reduce((s, r) => s + (r[key] as number), 0);
    const summary = JSON.stringify(reports.map((r) => ({ seed: r.seed, jobs: r.jobs, completed: r.completed, failed: r.failed, cancelled: r.cancelled })));
    expect(reports.length, summary).toBe(SEED_COUNT);
    expect(total('completed'), summary).toBeGreaterThan(0);
    expect(total('failed'), summary).toBeGreaterThan(0);
    expect(total('restarts'), summary).toBeGreaterThan(0);
    expect(total('lateAccepted'), summary).toBeGreaterThan(0);
    expect(total('duplicatesDropped'), summary).toBeGreaterThan(0);
    expect(total('rejected'), summary).toBeGreaterThan(0);
    expect(total('expiredLeases'), summary).toBeGreaterThan(0);
    expect(total('tailCopies'), summary).toBeGreaterThan(0);
    expect(reports.some((r) => (r.failedBy['work_error'] ?? 0) + (r.failedBy['timeout'] ?? 0) + (r.failedBy['invalid_result'] ?? 0) > 0), summary).toBe(true);
  });
});

describe('seeds that once failed', () => {
  // No seed has failed against the current source yet. These two are kept as fixed replays of rich
  // runs, so a regression in those paths shows up under a stable name. A seed replays exactly only
  // while the source behaves the same; when a seed fails, add it here by name with the bug it found.
  // The scheduler's fair sharing (added later) changed which events these seeds produce; each is
  // still a rich run. The checks below name what each run exercises today.
  it('seed 3737844653 (0xdecafbad): restarts, late results and work_error failures', async () => {
    const report = await simulate(0xdecafbad);
    expect(report.restarts, 'swarm seed 3737844653').toBeGreaterThan(0);
    expect(report.lateAccepted, 'swarm seed 3737844653').toBeGreaterThan(0);
    expect(report.failedBy['work_error'] ?? 0, 'swarm seed 3737844653').toBeGreaterThan(0);
  });

  it('seed 6: restarts, a cancellation and a device_lost failure', async () => {
    const report = await simulate(6);
    expect(report.restarts, 'swarm seed 6').toBeGreaterThan(0);
    expect(report.cancelled, 'swarm seed 6').toBeGreaterThan(0);
    expect(report.failedBy['device_lost'] ?? 0, 'swarm seed 6').toBeGreaterThan(0);
  });
});
