// What this browser gave: CPU time of runs the hub accepted and the jobs they helped, this session and in total
// (kept in localStorage, written at most once a second).
import { browserStorage, readItem, writeItem, type KeyValueStore } from '../common/safe-storage.ts';

const KEY = 'edgeswarm.donated.v1';
/** Job ids remembered, so a job helped over several visits counts once (the oldest are forgotten). */
const MAX_REMEMBERED_JOBS = 500;
const WRITE_EVERY_MS = 1_000;

export interface Donation {
  sessionMs: number;
  sessionJobs: number;
  totalMs: number;
  totalJobs: number;
}

interface Stored {
  ms: number;
  jobs: number;
  recent: string[];
}

export class DonationLedger {
  private sessionMs = 0;
  private readonly sessionJobs = new Set<string>();
  private stored: Stored;
  private dirty = false;
  private lastWrite = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly storage: KeyValueStore | null = browserStorage(),
    private readonly now: () => number = () => Date.now(),
  ) {
    this.stored = read(storage);
  }

  /** Runs of `jobId` the hub accepted, `ms` of CPU time in all. */
  add(jobId: string, ms: number): void {
    if (!(ms >= 0)) return;
    this.sessionMs += ms;
    this.stored.ms += ms;
    this.sessionJobs.add(jobId);
    if (!this.stored.recent.includes(jobId)) {
      this.stored.recent.push(jobId);
      if (this.stored.recent.length > MAX_REMEMBERED_JOBS) this.stored.recent.shift();
      this.stored.jobs++;
    }
    this.dirty = true;
    if (this.now() - this.lastWrite >= WRITE_EVERY_MS) this.flush();
    // What came since is written a second later at the latest (and at once when the page goes away: `flush`).
    else this.timer ??= setTimeout(() => this.flush(), WRITE_EVERY_MS);
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!this.dirty) return;
    this.dirty = false;
    this.lastWrite = this.now();
    writeItem(this.storage, KEY, JSON.stringify(this.stored));
  }

  get donation(): Donation {
    return { sessionMs: this.sessionMs, sessionJobs: this.sessionJobs.size, totalMs: this.stored.ms, totalJobs: this.stored.jobs };
  }
}

function read(storage: KeyValueStore | null): Stored {
  try {
    const value = JSON.parse(readItem(storage, KEY) ?? 'null') as Partial<Stored> | null;
    if (value && typeof value.ms === 'number' && typeof value.jobs === 'number' && Array.isArray(value.recent)) {
      return { ms: Math.max(0, value.ms), jobs: Math.max(0, value.jobs), recent: value.recent.filter((id): id is string => typeof id === 'string') };
    }
  } catch {
    // unreadable: start again
  }
  return { ms: 0, jobs: 0, recent: [] };
}

/** "2 h 5 min", "3 min 12 s", "4.2 s". */
export function formatCpuTime(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m - h * 60} min`;
}
