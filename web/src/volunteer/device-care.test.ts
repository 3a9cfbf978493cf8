import { describe, expect, it } from 'vitest';
import { batteryPause, pressureEase } from './device-care.ts';
import { DonationLedger, formatCpuTime } from './donation-ledger.ts';

describe('a device that looks after itself', () => {
  it('pauses below the battery level the volunteer set, only when not charging', () => {
    expect(batteryPause({ charging: false, level: 0.15 }, 20)).toBe('Paused: the battery is at 15% (below your 20%) and not charging.');
    expect(batteryPause({ charging: true, level: 0.15 }, 20)).toBeNull();
    expect(batteryPause({ charging: false, level: 0.2 }, 20)).toBeNull();
    expect(batteryPause({ charging: false, level: 0.05 }, 0)).toBeNull();
  });

  it('eases off to 50% CPU under serious pressure and to 25% under critical, and not under nominal or fair', () => {
    expect(pressureEase('serious')).toEqual({ limit: 50, why: 'Easing off to 50% CPU: this device reports serious CPU pressure (heat or load).' });
    expect(pressureEase('critical')).toEqual({ limit: 25, why: 'Easing off to 25% CPU: this device reports critical CPU pressure (heat or load).' });
    expect(pressureEase('fair')).toBeNull();
    expect(pressureEase('nominal')).toBeNull();
  });
});

describe('what the volunteer gave', () => {
  it('adds CPU time and jobs this session and in total, keeps the total in storage, and counts a job once', () => {
    const items = new Map<string, string>();
    const storage = { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v), removeItem: (k: string) => void items.delete(k) };
    let t = 0;
    const first = new DonationLedger(storage, () => (t += 2000));
    first.add('job_a', 1500);
    first.add('job_a', 500);
    first.add('job_b', 1000);
    first.flush();
    expect(first.donation).toEqual({ sessionMs: 3000, sessionJobs: 2, totalMs: 3000, totalJobs: 2 });
    // A later visit: the totals carry on; a job helped again is not counted again.
    const second = new DonationLedger(storage, () => (t += 2000));
    second.add('job_b', 250);
    second.add('job_c', 250);
    expect(second.donation).toEqual({ sessionMs: 500, sessionJobs: 2, totalMs: 3500, totalJobs: 3 });
    expect(formatCpuTime(3500)).toBe('3.5 s');
    expect(formatCpuTime(3 * 3600_000 + 5 * 60_000)).toBe('3 h 5 min');
  });
});
