import { describe, expect, it } from 'vitest';
import { DeviceRates, RATE_WINDOW_MS } from './device-rates.ts';

describe('DeviceRates', () => {
  it('is 0 for a device seen once', () => {
    expect(new DeviceRates().update(1000, [{ id: 'a', completed: 50 }]).get('a')).toBe(0);
  });

  it('divides completed subtasks by elapsed seconds', () => {
    const rates = new DeviceRates();
    rates.update(0, [{ id: 'a', completed: 0 }]);
    rates.update(1000, [{ id: 'a', completed: 30 }]);
    expect(rates.update(2000, [{ id: 'a', completed: 80 }]).get('a')).toBe(40);
  });

  it('forgets samples older than the window', () => {
    const rates = new DeviceRates();
    rates.update(0, [{ id: 'a', completed: 0 }]);
    rates.update(1000, [{ id: 'a', completed: 1000 }]);
    let last = 0;
    for (let t = 2000; t <= 2000 + RATE_WINDOW_MS * 2; t += 1000) {
      last = rates.update(t, [{ id: 'a', completed: 1000 + (t - 1000) / 100 }]).get('a') ?? -1;
    }
    expect(last).toBeCloseTo(10, 5);
  });

  it('starts over when a count goes down', () => {
    const rates = new DeviceRates();
    rates.update(0, [{ id: 'a', completed: 100 }]);
    expect(rates.update(1000, [{ id: 'a', completed: 5 }]).get('a')).toBe(0);
  });
});
