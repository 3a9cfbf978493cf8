// Per-device subtasks/second, derived from the `completed` counts of successive feed snapshots.

interface Sample {
  atMs: number;
  completed: number;
}

/** Rates are averaged over this window, so one late snapshot does not make a device look idle. */
export const RATE_WINDOW_MS = 10_000;

export class DeviceRates {
  private readonly history = new Map<string, Sample[]>();

  /** Records the counts seen at `atMs` and returns each listed device's rate (subtasks per second). */
  update(atMs: number, devices: ReadonlyArray<{ id: string; completed: number }>): Map<string, number> {
    const rates = new Map<string, number>();
    const seen = new Set<string>();
    for (const { id, completed } of devices) {
      seen.add(id);
      let samples = this.history.get(id);
      if (!samples) {
        samples = [];
        this.history.set(id, samples);
      }
      const last = samples.at(-1);
      // A count that went down is a new device record under the same id: start over.
      if (last && (completed < last.completed || atMs < last.atMs)) samples.length = 0;
      samples.push({ atMs, completed });
      while (samples.length > 2 && atMs - (samples[1]?.atMs ?? atMs) >= RATE_WINDOW_MS) samples.shift();
      const first = samples[0];
      const seconds = first ? (atMs - first.atMs) / 1000 : 0;
      rates.set(id, first && seconds > 0 ? (completed - first.completed) / seconds : 0);
    }
    for (const id of this.history.keys()) if (!seen.has(id)) this.history.delete(id);
    return rates;
  }
}
