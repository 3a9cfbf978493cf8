/**
 * The network of hubs one hub belongs to: its name, the time base lease deadlines use, its heartbeat (which also
 * finds hubs that stopped beating and takes back their devices and leases), the figures of the whole network, and
 * the events hubs pass to each other (a job stopped, work became available). `LocalNetwork` is the network of one
 * hub (the embedded SQLite store); ../store/postgres/pg-network.ts is the one of hubs sharing a PostgreSQL database.
 */
import type { Clock } from '../clock.ts';
import type { ReleaseOutcome } from '../store/job-store.ts';

/** What one hub passes to the others. */
export type NetworkEvent = { kind: 'job_stopped'; jobId: string } | { kind: 'work_available' };

/** One hub's own figures, sent with its heartbeat. */
export interface HubFigures {
  /** Devices connected to this hub and their threads. */
  devices: number;
  threads: number;
  /** Subtasks completed through this hub, last 10 s. */
  subtasksPerSecond: number;
  /** Subtasks completed through this hub since it started. */
  completed: number;
}

/** The figures of every live hub, summed. */
export interface NetworkFigures {
  hubs: number;
  threads: number;
  subtasksPerSecond: number;
  /** Subtasks completed through the other live hubs since they started (their throughput, for this hub's meter). */
  completedElsewhere: number;
}

export interface BeatOutcome extends ReleaseOutcome {
  /** Hubs found dead by this beat: their devices left and their leases were released. */
  deadHubs: string[];
  /** Another hub took this one for dead (it had not beaten for 10 s): its devices were marked offline and its leases released. */
  declaredDead: boolean;
}

export interface HubNetwork {
  readonly hubName: string;
  /** Whether other hubs may serve this network too (false: a lone hub with its embedded store). */
  readonly shared: boolean;
  /** The time base of lease deadlines: one shared by every hub of the network. */
  readonly clock: Clock;
  /** Joins the network; refuses (HubNameTakenError) when a live hub already has this name. */
  join(): Promise<void>;
  /** This hub's heartbeat: publishes its figures and takes back what hubs that stopped beating held. */
  beat(figures: HubFigures): Promise<BeatOutcome>;
  /** The network's figures as of the last heartbeats. */
  figures(local: HubFigures): Promise<NetworkFigures>;
  /** Tells the other hubs. */
  announce(event: NetworkEvent): Promise<void>;
  /** What the other hubs announced since the last call. */
  poll(): Promise<NetworkEvent[]>;
  /** Graceful stop: this hub's devices and leases go back at once (without counting a loss), and it leaves. */
  leave(now: number): Promise<ReleaseOutcome>;
}

/** Another hub serving the same database is running under this name. */
export class HubNameTakenError extends Error {
  override readonly name = 'HubNameTakenError';
  readonly code = 'hub_name_taken';
  constructor(hub: string, secondsAgo: number) {
    super(
      `a hub named "${hub}" is already serving this database (its last heartbeat was ${secondsAgo.toFixed(1)} s ago); ` +
        'give each hub its own --hub-name, or wait until the other one has been gone for 10 s',
    );
  }
}

const NOTHING: BeatOutcome = { requeued: 0, jobsFailed: [], deadHubs: [], declaredDead: false };

/** A network of one hub: nothing to share, its own process clock. */
export class LocalNetwork implements HubNetwork {
  readonly shared = false;
  constructor(
    readonly hubName: string,
    readonly clock: Clock,
  ) {}
  async join(): Promise<void> {}
  async beat(): Promise<BeatOutcome> {
    return NOTHING;
  }
  async figures(local: HubFigures): Promise<NetworkFigures> {
    return { hubs: 1, threads: local.threads, subtasksPerSecond: local.subtasksPerSecond, completedElsewhere: 0 };
  }
  async announce(): Promise<void> {}
  async poll(): Promise<NetworkEvent[]> {
    return [];
  }
  async leave(): Promise<ReleaseOutcome> {
    return { requeued: 0, jobsFailed: [] };
  }
}
