import { describe, expect, it } from 'vitest';
import type { BeatOutcome, HubNetwork } from './hub-network.ts';
import { NetworkService } from './network-service.ts';
import { systemClock } from '../clock.ts';

/** A network whose heartbeats answer what the test queues (a fake of one module's collaborator). */
function fakeNetwork(outcomes: BeatOutcome[]): HubNetwork {
  return {
    hubName: 'hub-a',
    shared: true,
    clock: systemClock,
    join: async () => {},
    beat: async () => outcomes.shift() ?? { requeued: 0, jobsFailed: [], deadHubs: [], declaredDead: false },
    figures: async (local) => ({ hubs: 2, threads: local.threads, subtasksPerSecond: 0, completedElsewhere: 0 }),
    announce: async () => {},
    poll: async () => [],
    leave: async () => ({ requeued: 0, jobsFailed: [] }),
  };
}

describe('NetworkService', () => {
  it('asks the hub to reconnect its devices when another hub took it for dead, once per time it happened', async () => {
    let reconnects = 0;
    const logs: string[] = [];
    const service = new NetworkService({
      network: fakeNetwork([
        { requeued: 0, jobsFailed: [], deadHubs: [], declaredDead: true },
        { requeued: 0, jobsFailed: [], deadHubs: [], declaredDead: false },
      ]),
      localFigures: () => ({ devices: 1, threads: 2, subtasksPerSecond: 0, completed: 0 }),
      jobStopped: () => {},
      workAvailable: () => {},
      released: () => {},
      declaredDead: () => reconnects++,
      completedElsewhere: () => {},
      log: (m) => logs.push(m),
    });
    await service.beat();
    expect(reconnects).toBe(1);
    expect(logs.join('\n')).toContain('taken for dead');
    await service.beat();
    expect(reconnects).toBe(1);
  });

  it('is unhealthy once three heartbeat intervals pass without one reaching the database, and healthy at the next that does', async () => {
    let down = false;
    const network = fakeNetwork([]);
    const failing: HubNetwork = { ...network, beat: async (f) => (down ? Promise.reject(new Error('connection refused')) : network.beat(f)) };
    const service = new NetworkService({
      network: failing,
      localFigures: () => ({ devices: 0, threads: 0, subtasksPerSecond: 0, completed: 0 }),
      jobStopped: () => {},
      workAvailable: () => {},
      released: () => {},
      declaredDead: () => {},
      completedElsewhere: () => {},
      log: () => {},
      beatMs: 1000,
    });
    await service.beat();
    const t0 = performance.now();
    expect(service.healthy(t0 + 2_500)).toBe(true);
    down = true;
    await service.beat();
    expect(service.healthy(t0 + 3_500)).toBe(false);
    down = false;
    await service.beat();
    expect(service.healthy()).toBe(true);
    const lone = new NetworkService({ ...{ network: { ...network, shared: false } }, localFigures: () => ({ devices: 0, threads: 0, subtasksPerSecond: 0, completed: 0 }), jobStopped: () => {}, workAvailable: () => {}, released: () => {}, declaredDead: () => {}, completedElsewhere: () => {}, log: () => {} });
    expect(lone.healthy(performance.now() + 1e9)).toBe(true);
  });
});
