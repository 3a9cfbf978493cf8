/**
 * Hubs sharing one PostgreSQL database: the `hubs` table (one row per live hub, its heartbeat in database time and
 * its figures), the reclaiming of a hub that stopped beating (its device connections end and its leases go back,
 * counting a loss as an expired lease would), the `hub_events` table the hubs tail by sequence (no NOTIFY per
 * write: each hub reads it a few times a second), and the database clock lease deadlines are measured by.
 */
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../../clock.ts';
import type { ReleaseOutcome } from '../job-store.ts';
import { HubNameTakenError, type BeatOutcome, type HubFigures, type HubNetwork, type NetworkEvent, type NetworkFigures } from '../../network/hub-network.ts';
import type { PgSession, Queryable } from './pg-session.ts';
import { hubDevicesOffline } from './pg-directory.ts';
import { hubLeases, releaseRows } from './pg-work.ts';

/** A hub whose last heartbeat is older than this is dead: another hub takes its devices and leases back. */
export const HUB_STALE_MS = 10_000;
/** Events are kept this long (a hub that polls less often than this misses nothing it still needs: leases expire anyway). */
const EVENTS_KEPT_MS = 600_000;
/** Sequence numbers a poll looks back over, for events of transactions that committed out of order. */
const LOOK_BACK = 64;
/** How often the clock asks the database for its time again. */
const CALIBRATE_MS = 30_000;

/** Milliseconds since the epoch by the database's clock. */
const DB_NOW = 'extract(epoch from clock_timestamp()) * 1000';

/**
 * Time by the database's clock, read through this process's monotonic clock: `monotonic()` is the database's
 * epoch milliseconds as of the last calibration plus the monotonic time since, and never goes back, so every hub
 * of the network measures lease deadlines on one time base (within the round trip of a calibration).
 */
export class DatabaseClock implements Clock {
  private offset = 0;
  private last = 0;
  private calibratedAt = -Infinity;

  constructor(private readonly q: Queryable) {}

  /** Reads the database's time (the midpoint of the round trip is taken as the moment it was read). */
  async calibrate(): Promise<void> {
    const before = performance.now();
    const row = (await this.q.query<{ t: number }>(`SELECT ${DB_NOW} AS t`)).rows[0];
    const after = performance.now();
    if (!row) return;
    this.offset = Number(row.t) - (before + after) / 2;
    this.calibratedAt = after;
  }

  /** Calibrates again when the last calibration is old; call from a timer (the heartbeat). */
  async refresh(): Promise<void> {
    if (performance.now() - this.calibratedAt >= CALIBRATE_MS) await this.calibrate();
  }

  now(): number {
    return Date.now();
  }

  monotonic(): number {
    this.last = Math.max(this.last, performance.now() + this.offset);
    return this.last;
  }
}

export class PostgresNetwork implements HubNetwork {
  readonly shared = true;
  readonly clock: DatabaseClock;
  private cursor = 0;
  private readonly seen = new Set<number>();
  private readonly startedAt = Date.now();

  constructor(
    private readonly session: PgSession,
    readonly hubName: string,
  ) {
    this.clock = new DatabaseClock(session);
  }

  async join(): Promise<void> {
    await this.clock.calibrate();
    await this.session.tx(async (q) => {
      const other = (
        await q.query<{ age: number; stopped: boolean; host: string | null; pid: number | null }>(
          `SELECT ${DB_NOW} - beat_at AS age, stopped, host, pid FROM hubs WHERE name = $1 FOR UPDATE`,
          [this.hubName],
        )
      ).rows[0];
      if (other && !other.stopped && other.age < HUB_STALE_MS && !this.predecessor(other.host, other.pid)) {
        throw new HubNameTakenError(this.hubName, other.age / 1000);
      }
      // A previous process of this hub that crashed left devices and leases under its name: the hub's start-up
      // (WorkService.recover) takes them back, as a lone hub does with its SQLite file.
      await q.query(
        `INSERT INTO hubs (name, started_at, beat_at, host, pid) VALUES ($1, $2, ${DB_NOW}, $3, $4)
         ON CONFLICT (name) DO UPDATE SET started_at = $2, beat_at = ${DB_NOW}, stopped = false, devices = 0, threads = 0, rate = 0,
           completed = 0, host = $3, pid = $4`,
        [this.hubName, this.startedAt, hostname(), process.pid],
      );
    });
    // Events from before this hub joined are not for it.
    this.cursor = (await this.session.query<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM hub_events')).rows[0]?.seq ?? 0;
  }

  /** Whether the hub last registered under this name was a process of this machine that no longer runs. */
  private predecessor(host: string | null, pid: number | null): boolean {
    if (host !== hostname() || pid === null || pid === process.pid) return false;
    try {
      process.kill(pid, 0);
      return false; // it still runs
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }

  async beat(figures: HubFigures): Promise<BeatOutcome> {
    await this.clock.refresh();
    // Whether another hub took this one for dead meanwhile (stopped, and not by this hub's own leave()).
    const own = await this.session.query<{ was_stopped: boolean }>(
      `UPDATE hubs h SET beat_at = ${DB_NOW}, stopped = false, devices = $2, threads = $3, rate = $4, completed = $5
         FROM (SELECT name, stopped FROM hubs WHERE name = $1 FOR UPDATE) old
        WHERE h.name = old.name RETURNING old.stopped AS was_stopped`,
      [this.hubName, figures.devices, figures.threads, figures.subtasksPerSecond, figures.completed],
    );
    const outcome: BeatOutcome = { requeued: 0, jobsFailed: [], deadHubs: [], declaredDead: own.rows[0]?.was_stopped === true };
    const dead = await this.session.query<{ name: string }>(
      `SELECT name FROM hubs WHERE NOT stopped AND beat_at < ${DB_NOW} - $1 AND name <> $2`,
      [HUB_STALE_MS, this.hubName],
    );
    for (const { name } of dead.rows) {
      const released = await this.session.tx(async (q) => {
        // Only one hub reclaims a dead one: the row is taken with SKIP LOCKED and marked in the same transaction.
        const row = await q.query(`SELECT 1 FROM hubs WHERE name = $1 AND NOT stopped AND beat_at < ${DB_NOW} - $2 FOR UPDATE SKIP LOCKED`, [
          name,
          HUB_STALE_MS,
        ]);
        if (row.rowCount === 0) return null;
        await hubDevicesOffline(q, name);
        const out = await releaseRows(q, await hubLeases(q, name), Date.now(), true);
        await q.query('UPDATE hubs SET stopped = true, devices = 0, threads = 0, rate = 0 WHERE name = $1', [name]);
        return out;
      });
      if (!released) continue;
      outcome.deadHubs.push(name);
      outcome.requeued += released.requeued;
      outcome.jobsFailed.push(...released.jobsFailed);
    }
    await this.session.query(`DELETE FROM hub_events WHERE at < ${DB_NOW} - $1`, [EVENTS_KEPT_MS]);
    return outcome;
  }

  async figures(local: HubFigures): Promise<NetworkFigures> {
    const row = (
      await this.session.query<{ hubs: number; threads: number; rate: number; completed: number }>(
        `SELECT count(*) AS hubs, coalesce(sum(threads), 0)::bigint AS threads, coalesce(sum(rate), 0)::float8 AS rate,
           coalesce(sum(completed), 0)::bigint AS completed
         FROM hubs WHERE NOT stopped AND beat_at >= ${DB_NOW} - $1 AND name <> $2`,
        [HUB_STALE_MS, this.hubName],
      )
    ).rows[0] ?? { hubs: 0, threads: 0, rate: 0, completed: 0 };
    return {
      hubs: Number(row.hubs) + 1,
      threads: Number(row.threads) + local.threads,
      subtasksPerSecond: Number(row.rate) + local.subtasksPerSecond,
      completedElsewhere: Number(row.completed),
    };
  }

  async announce(event: NetworkEvent): Promise<void> {
    await this.session.query(`INSERT INTO hub_events (hub, kind, job_id, at) VALUES ($1, $2, $3, ${DB_NOW})`, [
      this.hubName,
      event.kind,
      event.kind === 'job_stopped' ? event.jobId : null,
    ]);
  }

  async poll(): Promise<NetworkEvent[]> {
    const rows = await this.session.query<{ seq: number; hub: string; kind: string; job_id: string | null }>(
      'SELECT seq, hub, kind, job_id FROM hub_events WHERE seq > $1 ORDER BY seq LIMIT 5000',
      [Math.max(0, this.cursor - LOOK_BACK)],
    );
    const events: NetworkEvent[] = [];
    for (const row of rows.rows) {
      if (row.seq <= this.cursor - LOOK_BACK || this.seen.has(row.seq)) continue;
      this.seen.add(row.seq);
      if (row.hub === this.hubName) continue;
      if (row.kind === 'job_stopped' && row.job_id !== null) events.push({ kind: 'job_stopped', jobId: row.job_id });
      else if (row.kind === 'work_available') events.push({ kind: 'work_available' });
    }
    const top = rows.rows.at(-1)?.seq ?? 0;
    if (top > this.cursor) this.cursor = top;
    for (const seq of this.seen) if (seq <= this.cursor - LOOK_BACK) this.seen.delete(seq);
    return events;
  }

  async leave(now: number): Promise<ReleaseOutcome> {
    return this.session.tx(async (q) => {
      await hubDevicesOffline(q, this.hubName);
      const out = await releaseRows(q, await hubLeases(q, this.hubName), now, false);
      await q.query('UPDATE hubs SET stopped = true, devices = 0, threads = 0, rate = 0 WHERE name = $1', [this.hubName]);
      return out;
    });
  }
}
