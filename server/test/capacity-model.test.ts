import { describe, expect, it } from 'vitest';
import { fitCosts, predict, simulate, workCallsPerSubtask, type Costs, type Network } from '../bench/capacity-model.ts';
import { hubsFor } from '../bench/capacity-report.ts';

const costs: Costs = { hubUsPerSubtask: 6, hubUsPerCall: 30, pgUsPerSubtask: 10, pgUsPerCall: 40, flushMs: 2 };
const base: Network = { devices: 1_000, threads: 4, itemMs: 1000, hubs: 1, hubCores: 4, pgCores: 16, networkMs: 50 };

describe('capacity model', () => {
  it('recovers per-subtask and per-call costs from two runs with different calls per subtask', () => {
    const run = (k: number) => ({ callsPerSubtask: k, hubUs: 6 + 30 * k, pgUs: 10 + 40 * k });
    const fitted = fitCosts(run(0.5), run(0.05), 2);
    expect(fitted.hubUsPerSubtask).toBeCloseTo(6, 6);
    expect(fitted.hubUsPerCall).toBeCloseTo(30, 6);
    expect(fitted.pgUsPerSubtask).toBeCloseTo(10, 6);
    expect(fitted.pgUsPerCall).toBeCloseTo(40, 6);
  });

  it('simulates what the devices ask when hubs and database have room', () => {
    const net = { ...base, devices: 10_000, hubs: 8 };
    const predicted = predict(costs, net);
    expect(predicted.bound).toBe('devices');
    const simulated = simulate(costs, net, 10);
    expect(simulated.subtasksPerSecond / predicted.subtasksPerSecond).toBeGreaterThan(0.98);
    expect(simulated.subtasksPerSecond / predicted.subtasksPerSecond).toBeLessThan(1.02);
    // Leases of half the hold (4 threads × 1 s) and result batches, plus a heartbeat per device every 5 s.
    expect(simulated.callsPerSubtask).toBeCloseTo(workCallsPerSubtask(net) + 1 / 5 / 4, 1);
  });

  it('finds the hubs the limit when there are too few of them, and the simulation agrees', () => {
    // A database far cheaper than the hub (one hub's commits use one of its cores at most).
    const cheapDatabase = { ...costs, pgUsPerSubtask: 1, pgUsPerCall: 2 };
    const net = { ...base, devices: 100_000, hubs: 1 };
    const predicted = predict(cheapDatabase, net);
    expect(predicted.bound).toBe('hubs');
    const simulated = simulate(cheapDatabase, net, 10);
    expect(simulated.hubBusy).toBeGreaterThan(0.95);
    // Starved devices ask for more at a time (fewer calls per subtask), so the model is a floor here.
    expect(simulated.subtasksPerSecond / predicted.subtasksPerSecond).toBeGreaterThan(0.95);
    expect(simulated.subtasksPerSecond / predicted.subtasksPerSecond).toBeLessThan(1.3);
  });

  it('lets one hub use at most one database core: its commits go one at a time', () => {
    const net = { ...base, devices: 1_000, threads: 1, itemMs: 1, hubs: 1, hubCores: 16, pgCores: 8 };
    const predicted = predict(costs, net);
    expect(predicted.bound).toBe('database');
    const simulated = simulate(costs, net, 5);
    expect(simulated.pgBusy).toBeLessThan(1 / 8 + 0.01);
    expect(simulated.pgBusy).toBeGreaterThan(1 / 8 - 0.02);
    expect(simulated.subtasksPerSecond / predicted.subtasksPerSecond).toBeGreaterThan(0.95);
    const two = simulate(costs, { ...net, hubs: 2 }, 5);
    expect(two.subtasksPerSecond / simulated.subtasksPerSecond).toBeGreaterThan(1.8);
  });

  it('holds at 100,000 devices: more hubs stop helping once the database is saturated, and commits grow instead', () => {
    const net = { ...base, devices: 100_000, pgCores: 8 };
    const hubs = hubsFor(costs, net);
    const saturated = predict(costs, { ...net, hubs });
    expect(saturated.bound).toBe('database');
    const simulated = simulate(costs, { ...net, hubs }, 10);
    expect(simulated.pgBusy).toBeGreaterThan(0.95);
    expect(simulated.subtasksPerSecond / saturated.subtasksPerSecond).toBeGreaterThan(0.95);
    expect(simulated.subtasksPerSecond / saturated.subtasksPerSecond).toBeLessThan(1.3);
    // Group commit absorbs the load: hundreds of device calls share each commit.
    expect(simulated.callsPerCommit).toBeGreaterThan(100);
    const more = simulate(costs, { ...net, hubs: hubs * 2 }, 10);
    expect(more.subtasksPerSecond / simulated.subtasksPerSecond).toBeLessThan(1.1);
  });
});
