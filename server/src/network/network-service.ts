/**
 * Runs one hub's part in its network: the heartbeat (every `beatMs`, with this hub's figures; it also takes back
 * what dead hubs held), the reading of other hubs' events (every `pollMs`, each kind coalesced to one call), and the
 * announcing of this hub's events (`work_available` at most once per `pollMs`). Knows nothing of sockets: the hub
 * passes what to do with events as callbacks.
 */
import type { ReleaseOutcome } from '../store/job-store.ts';
import type { HubFigures, HubNetwork, NetworkEvent, NetworkFigures } from './hub-network.ts';

export const BEAT_MS = 2000;
export const POLL_MS = 500;

export interface NetworkServiceOptions {
  network: HubNetwork;
  /** This hub's figures now. */
  localFigures(): HubFigures;
  /** Another hub stopped a job: this hub's devices should drop its runs. */
  jobStopped(jobId: string): void;
  /** Another hub has work for devices (or returned some to the queue). */
  workAvailable(): void;
  /** Leases of a dead hub were released by this hub's heartbeat. */
  released(outcome: ReleaseOutcome): void;
  /**
   * Another hub took this one for dead (cut off from the database for 10 s or more): its devices were marked offline
   * and their leases released, so they should connect again (to this hub or another) and start afresh.
   */
  declaredDead(): void;
  /** Subtasks other hubs completed since the last heartbeat (for this hub's throughput meter). */
  completedElsewhere(count: number): void;
  log(message: string, err?: unknown): void;
  beatMs?: number;
  pollMs?: number;
}

export class NetworkService {
  private last: NetworkFigures | null = null;
  private elsewhere: number | null = null;
  private timers: NodeJS.Timeout[] = [];
  private workAnnounced = -Infinity;
  private workPending = false;
  private beating = false;
  private polling = false;

  constructor(private readonly options: NetworkServiceOptions) {}

  get network(): HubNetwork {
    return this.options.network;
  }

  /** The network's figures as of the last heartbeat (this hub's alone before the first). */
  figures(): NetworkFigures {
    if (this.last) return this.last;
    const local = this.options.localFigures();
    return { hubs: 1, threads: local.threads, subtasksPerSecond: local.subtasksPerSecond, completedElsewhere: 0 };
  }

  start(): void {
    const beat = setInterval(() => void this.beat(), this.options.beatMs ?? BEAT_MS);
    const poll = setInterval(() => void this.poll(), this.options.pollMs ?? POLL_MS);
    beat.unref();
    poll.unref();
    this.timers = [beat, poll];
    void this.beat();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Tells the other hubs; `work_available` is sent at most once per poll interval (the rest ride on it). */
  announce(event: NetworkEvent): void {
    if (event.kind === 'work_available') {
      const now = performance.now();
      const wait = this.workAnnounced + (this.options.pollMs ?? POLL_MS) - now;
      if (wait > 0) {
        if (!this.workPending) {
          this.workPending = true;
          setTimeout(() => {
            this.workPending = false;
            this.announce(event);
          }, wait).unref();
        }
        return;
      }
      this.workAnnounced = now;
    }
    this.network.announce(event).catch((err: unknown) => this.options.log(`telling other hubs (${event.kind}) failed`, err));
  }

  /**
   * Whether the last heartbeats reached the database: false once none has for three intervals (a hub cut off from
   * PostgreSQL), true again at the next one that does. Always true for a lone hub.
   */
  healthy(now = performance.now()): boolean {
    if (!this.network.shared) return true;
    return now - this.lastBeatOk <= 3 * (this.options.beatMs ?? BEAT_MS);
  }

  private lastBeatOk = performance.now();

  async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const local = this.options.localFigures();
      const outcome = await this.network.beat(local);
      this.lastBeatOk = performance.now();
      if (outcome.declaredDead) {
        this.options.log('this hub was taken for dead by another (no heartbeat for 10 s): its devices connect again');
        this.options.declaredDead();
      }
      for (const hub of outcome.deadHubs) this.options.log(`hub ${hub} stopped beating: its devices left and ${outcome.requeued} of its inputs went back to the queue`);
      if (outcome.requeued > 0 || outcome.jobsFailed.length > 0) this.options.released(outcome);
      for (const jobId of outcome.jobsFailed) this.announce({ kind: 'job_stopped', jobId });
      if (outcome.requeued > 0) this.announce({ kind: 'work_available' });
      const figures = await this.network.figures(local);
      if (this.elsewhere !== null && figures.completedElsewhere > this.elsewhere) this.options.completedElsewhere(figures.completedElsewhere - this.elsewhere);
      this.elsewhere = figures.completedElsewhere;
      this.last = figures;
    } catch (err) {
      this.options.log('the hub heartbeat failed', err);
    } finally {
      this.beating = false;
    }
  }

  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const events = await this.network.poll();
      const stopped = new Set<string>();
      let work = false;
      for (const e of events) {
        if (e.kind === 'job_stopped') stopped.add(e.jobId);
        else work = true;
      }
      for (const jobId of stopped) this.options.jobStopped(jobId);
      if (work) this.options.workAvailable();
    } catch (err) {
      this.options.log('reading other hubs\' events failed', err);
    } finally {
      this.polling = false;
    }
  }
}
