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

/** Why CPU pressure pauses the device now: only `critical` (the device is overheating or throttling); null otherwise. */
export function pressurePause(state: PressureState): string | null {
  if (state !== 'critical') return null;
  return 'Paused: this device reports critical CPU pressure (heat or load); it resumes when that eases.';
}

/** The CPU limit the page eases off to under `serious` pressure (its own work may be the cause), until it eases. */
export const EASED_CPU_LIMIT = 50;

/** Why the page eases off (runs at EASED_CPU_LIMIT) now: `serious` pressure; null otherwise. */
export function pressureEase(state: PressureState): string | null {
  if (state !== 'serious') return null;
  return `Easing off to ${EASED_CPU_LIMIT}% CPU: this device reports serious CPU pressure (heat or load).`;
}
