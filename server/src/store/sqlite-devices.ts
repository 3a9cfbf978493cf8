/** The devices table of the SQLite store: presence, kind, threads and per-device counters. */
import type Database from 'better-sqlite3';
import type { DeviceInfo, DeviceKind, DeviceState } from '@edgeswarm/shared';
import type { DeviceRegistration, Page } from './job-store.ts';

interface DeviceRow {
  id: string;
  kind: DeviceKind;
  name: string;
  threads: number;
  state: DeviceState;
  completed: number;
  failed: number;
  valid: number;
  invalid: number;
  quarantined_at: number | null;
  connected_at: number;
  last_seen_at: number;
}

const toDevice = (r: DeviceRow): DeviceInfo => ({
  id: r.id,
  kind: r.kind,
  name: r.name,
  threads: r.threads,
  state: r.state,
  completed: r.completed,
  failed: r.failed,
  valid: r.valid,
  invalid: r.invalid,
  quarantined: r.quarantined_at !== null,
  connectedAt: new Date(r.connected_at).toISOString(),
  lastSeenAt: new Date(r.last_seen_at).toISOString(),
});

export class DeviceTable {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    this.q = {
      register: db.prepare(
        `INSERT INTO devices (id, kind, name, threads, state, connections, connected_at, last_seen_at, address)
         VALUES (@id, @kind, @name, @threads, 'idle', 1, @now, @now, @address)
         ON CONFLICT (id) DO UPDATE SET kind = @kind, name = @name, threads = @threads, state = 'idle', address = @address,
           connected_at = CASE WHEN connections = 0 THEN @now ELSE connected_at END,
           connections = connections + 1, last_seen_at = @now`,
      ),
      seen: db.prepare('UPDATE devices SET state = ?, threads = ?, last_seen_at = ? WHERE id = ?'),
      offline: db.prepare('UPDATE devices SET connections = max(connections - 1, 0), last_seen_at = ? WHERE id = ?'),
      counts: db.prepare(
        'UPDATE devices SET completed = completed + ?, failed = failed + ?, rejected = rejected + ? WHERE id = ?',
      ),
    };
  }

  register(d: DeviceRegistration): void {
    this.q.register.run({ id: d.id, kind: d.kind, name: d.name, threads: d.threads, now: d.now, address: d.address ?? null });
  }

  seen(id: string, state: DeviceState, threads: number, now: number): void {
    this.q.seen.run(state, threads, now, id);
  }

  offline(id: string, now: number): void {
    this.q.offline.run(now, id);
  }

  allOffline(): void {
    this.db.prepare('UPDATE devices SET connections = 0 WHERE connections > 0').run();
  }

  addCounts(id: string, completed: number, failed: number, rejected: number): void {
    if (completed || failed || rejected) this.q.counts.run(completed, failed, rejected, id);
  }

  addRejected(id: string, n: number): void {
    this.addCounts(id, 0, 0, n);
  }

  onlineCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM devices WHERE connections > 0').get() as { n: number }).n;
  }

  listOnline(offset: number, limit: number): Page<DeviceInfo> {
    const total = (this.db.prepare('SELECT count(*) AS n FROM devices WHERE connections > 0').get() as { n: number }).n;
    const rows = this.db
      .prepare<[number, number], DeviceRow>(
        'SELECT * FROM devices WHERE connections > 0 ORDER BY connected_at, id LIMIT ? OFFSET ?',
      )
      .all(limit, offset);
    return { total, items: rows.map(toDevice) };
  }
}
