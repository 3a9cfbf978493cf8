/** The capacity model's lines in `--only scale`: costs fitted from this run's PostgreSQL hub, predictions and their check by simulation. */
import { fitCosts, predict, simulate, type Costs, type Network } from './capacity-model.ts';

/** One measured run: device calls per subtask, and hub and PostgreSQL CPU microseconds per subtask. */
export interface MeasuredRun {
  callsPerSubtask: number;
  hubUs: number;
  pgUs: number;
}

/** A commit's WAL flush on a local SSD (fdatasync); a synchronous standby adds its network round trip. */
const FLUSH_MS = 2;
const HUB_CORES = 4;
const PG_CORES = 16;
const NETWORK_MS = 50;
const SIM_SECONDS = 10;

const workloads = [
  { name: '1 s inputs', threads: 4, itemMs: 1000 },
  { name: '50 ms inputs', threads: 4, itemMs: 50 },
];

export interface CapacityCase {
  net: Network;
  workload: string;
  predicted: ReturnType<typeof predict>;
  simulated: ReturnType<typeof simulate>;
}

/** The fewest hubs (≤ 64) that serve every device's demand, or else those past which the database is the limit. */
export function hubsFor(costs: Costs, base: Omit<Network, 'hubs'>): number {
  let best = 1;
  let bestRate = 0;
  for (let hubs = 1; hubs <= 64; hubs++) {
    const p = predict(costs, { ...base, hubs });
    if (p.bound === 'devices') return hubs;
    if (p.subtasksPerSecond > bestRate * 1.001) {
      best = hubs;
      bestRate = p.subtasksPerSecond;
    }
  }
  return best;
}

export function capacityCases(costs: Costs, devices = [1_000, 10_000, 100_000]): CapacityCase[] {
  const cases: CapacityCase[] = [];
  for (const w of workloads) {
    for (const n of devices) {
      const base = { devices: n, threads: w.threads, itemMs: w.itemMs, hubCores: HUB_CORES, pgCores: PG_CORES, networkMs: NETWORK_MS };
      const net = { ...base, hubs: hubsFor(costs, base) };
      cases.push({ net, workload: w.name, predicted: predict(costs, net), simulated: simulate(costs, net, SIM_SECONDS) });
    }
  }
  return cases;
}

const int = (x: number) => Math.round(x).toLocaleString('en');

export function capacityRows(active: MeasuredRun, dispatch: MeasuredRun): string[] {
  const costs = fitCosts(active, dispatch, FLUSH_MS);
  const rows = [
    'Capacity model (README "Several hubs"), costs fitted from the PostgreSQL hub above (cost = per subtask + per call × calls per subtask;',
    `  active: ${active.callsPerSubtask.toFixed(3)} calls per subtask, hub ${active.hubUs.toFixed(1)} µs, PostgreSQL ${active.pgUs.toFixed(1)} µs; dispatch: ${dispatch.callsPerSubtask.toFixed(3)}, ${dispatch.hubUs.toFixed(1)} µs, ${dispatch.pgUs.toFixed(1)} µs):`,
    `  hub ${costs.hubUsPerSubtask.toFixed(1)} µs per subtask + ${costs.hubUsPerCall.toFixed(1)} µs per call; PostgreSQL ${costs.pgUsPerSubtask.toFixed(1)} µs per subtask + ${costs.pgUsPerCall.toFixed(1)} µs per call; WAL flush ${FLUSH_MS} ms`,
    `  hubs of ${HUB_CORES} cores, one PostgreSQL server of ${PG_CORES} cores, devices of 4 threads, ${NETWORK_MS} ms round trips; simulated ${SIM_SECONDS} s after 5 s of warm-up:`,
    `  ${'workload'.padEnd(13)} ${'devices'.padStart(8)} ${'hubs'.padStart(5)} ${'bound'.padEnd(9)} ${'model/s'.padStart(10)} ${'simulated/s'.padStart(12)} ${'sim÷model'.padStart(9)} ${'PG busy'.padStart(8)} ${'calls/commit'.padStart(12)} ${'answer ms'.padStart(9)}`,
  ];
  for (const c of capacityCases(costs)) {
    rows.push(
      `  ${c.workload.padEnd(13)} ${int(c.net.devices).padStart(8)} ${String(c.net.hubs).padStart(5)} ${c.predicted.bound.padEnd(9)} ${int(c.predicted.subtasksPerSecond).padStart(10)} ${int(c.simulated.subtasksPerSecond).padStart(12)} ${(c.simulated.subtasksPerSecond / c.predicted.subtasksPerSecond).toFixed(2).padStart(9)} ${(c.simulated.pgBusy * 100).toFixed(0).padStart(7)}% ${int(c.simulated.callsPerCommit).padStart(12)} ${c.simulated.meanAnswerMs.toFixed(0).padStart(9)}`,
    );
  }
  return rows;
}
