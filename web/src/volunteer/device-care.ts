// When a volunteer's device should stop computing on its own: a low battery that is not charging (below the level the
// volunteer set), or serious CPU pressure (the Compute Pressure API: heat or load). Pure rules; the page feeds them.

/** Battery levels (percent) the volunteer can pick to pause below; 0 = never. */
export const BATTERY_FLOORS = [0, 10, 20, 30, 50] as const;
export type BatteryFloor = (typeof BATTERY_FLOORS)[number];
export const DEFAULT_BATTERY_FLOOR: BatteryFloor = 20;

export interface BatteryReading {
  charging: boolean;
  /** 0–1, as the Battery Status API reports it. */
  level: number;
}

/** Why the battery pauses the device now, in words for the page; null when it does not. */
export function batteryPause(battery: BatteryReading, floorPercent: number): string | null {
  if (battery.charging || floorPercent <= 0) return null;
  const percent = Math.round(battery.level * 100);
  if (percent >= floorPercent) return null;
  return `Paused: the battery is at ${percent}% (below your ${floorPercent}%) and not charging.`;
}

/** Compute Pressure states (`PressureRecord.state`). */
export type PressureState = 'nominal' | 'fair' | 'serious' | 'critical';

/**
 * How far the page eases off under CPU pressure, until it eases: the CPU limit it runs at for now and why; null at
 * `nominal` or `fair`. It eases off rather than pausing: its own work may be the cause, and a pause would give its
 * held work back to the hub, to be run again.
 */
export function pressureEase(state: PressureState): { limit: number; why: string } | null {
  const limit = state === 'critical' ? 25 : state === 'serious' ? 50 : null;
  if (limit === null) return null;
  return { limit, why: `Easing off to ${limit}% CPU: this device reports ${state} CPU pressure (heat or load).` };
}
