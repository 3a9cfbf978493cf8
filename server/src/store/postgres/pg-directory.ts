/** Devices and submitters on PostgreSQL: presence, kind, threads and counters of devices; named tokens and their limits (as ../sqlite-devices.ts, ../sqlite-submitters.ts). */
import type { DeviceInfo, DeviceKind, DeviceState } from '@edgeswarm/shared';
import type { DevicePresence, DeviceRegistration, Page, Submitter, SubmitterActivity, SubmitterLimits } from '../job-store.ts';
import type { Queryable } from './pg-session.ts';

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
  hub: string | null;
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
  ...(r.hub === null ? {} : { hub: r.hub }),
});

/**
 * A device connected to `hub`. Each hub counts its own connections of a device (`device_connections`), so the
 * connections of a hub that died can be taken away without touching those the device has opened elsewhere;
 * `devices.connections` is their sum and `devices.hub` the hub of its latest connection.
 */
export async function registerDevice(q: Queryable, d: DeviceRegistration, hub: string): Promise<void> {
  await q.query(
    `INSERT INTO devices (id, kind, name, threads, state, connections, connected_at, last_seen_at, address, hub)
       VALUES ($1, $2, $3, $4, 'idle', 1, $5, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET kind = $2, name = $3, threads = $4, state = 'idle', address = $6, hub = $7,
       connected_at = CASE WHEN devices.connections = 0 THEN $5 ELSE devices.connected_at END,
       connections = devices.connections + 1, last_seen_at = $5`,
    [d.id, d.kind, d.name, d.threads, d.now, d.address ?? null, hub],
  );
  await q.query(
    `INSERT INTO device_connections (device_id, hub, n, since) VALUES ($1, $2, 1, $3)
     ON CONFLICT (device_id, hub) DO UPDATE SET n = device_connections.n + 1`,
    [d.id, hub, d.now],
  );
}

/** Heartbeats of many devices in one statement. */
export async function devicesSeen(q: Queryable, updates: readonly DevicePresence[]): Promise<void> {
  if (updates.length === 0) return;
  await q.query(
    `UPDATE devices d SET state = u.state, threads = u.threads, last_seen_at = u.now
       FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) AS u(id, state, threads, now) WHERE d.id = u.id`,
    [updates.map((u) => u.id), updates.map((u) => u.state), updates.map((u) => u.threads), updates.map((u) => u.now)],
  );
}

/** One connection of a device to `hub` ended. */
export async function deviceOffline(q: Queryable, id: string, now: number, hub: string): Promise<void> {
  const left = await q.query<{ n: number }>('UPDATE device_connections SET n = n - 1 WHERE device_id = $1 AND hub = $2 RETURNING n', [id, hub]);
  if (left.rowCount === 0) return; // already taken away (its hub was declared dead, or the hub restarted)
  if ((left.rows[0]?.n ?? 0) <= 0) await q.query('DELETE FROM device_connections WHERE device_id = $1 AND hub = $2', [id, hub]);
  await q.query(
    `UPDATE devices SET connections = greatest(connections - 1, 0), last_seen_at = $1,
       hub = coalesce((SELECT c.hub FROM device_connections c WHERE c.device_id = $2 ORDER BY c.since DESC LIMIT 1), hub)
     WHERE id = $2`,
    [now, id],
  );
}

/** Every connection `hub` held ends: at its start (those of its previous process), or when another hub finds it dead. */
export async function hubDevicesOffline(q: Queryable, hub: string): Promise<number> {
  const gone = await q.query<{ device_id: string; n: number }>('DELETE FROM device_connections WHERE hub = $1 RETURNING device_id, n', [hub]);
  if (gone.rowCount === 0) return 0;
  await q.query(
    `UPDATE devices d SET connections = greatest(d.connections - g.n, 0),
       hub = coalesce((SELECT c.hub FROM device_connections c WHERE c.device_id = d.id ORDER BY c.since DESC LIMIT 1), d.hub)
     FROM unnest($1::text[], $2::int[]) AS g(id, n) WHERE d.id = g.id`,
    [gone.rows.map((r) => r.device_id), gone.rows.map((r) => r.n)],
  );
  return gone.rowCount ?? 0;
}

export async function onlineDeviceCount(q: Queryable): Promise<number> {
  return (await q.query<{ n: number }>('SELECT count(*) AS n FROM devices WHERE connections > 0')).rows[0]?.n ?? 0;
}

export async function listDevices(q: Queryable, offset: number, limit: number): Promise<Page<DeviceInfo>> {
  const total = await onlineDeviceCount(q);
  const rows = await q.query<DeviceRow>('SELECT * FROM devices WHERE connections > 0 ORDER BY connected_at, id LIMIT $1 OFFSET $2', [limit, offset]);
  return { total, items: rows.rows.map(toDevice) };
}

export async function isQuarantined(q: Queryable, deviceId: string): Promise<boolean> {
  return (await q.query('SELECT 1 FROM devices WHERE id = $1 AND quarantined_at IS NOT NULL', [deviceId])).rowCount !== 0;
}

export async function releaseQuarantine(q: Queryable, deviceId: string): Promise<boolean> {
  return ((await q.query('UPDATE devices SET quarantined_at = NULL, streak = 0 WHERE id = $1 AND quarantined_at IS NOT NULL', [deviceId])).rowCount ?? 0) > 0;
}

interface SubmitterRow {
  name: string;
  max_running: number;
  max_inputs: number;
  per_minute: number;
  max_blob_bytes: number;
  created_at: number;
  revoked_at: number | null;
}

const toSubmitter = (row: SubmitterRow): Submitter => ({
  name: row.name,
  limits: { maxRunning: row.max_running, maxInputs: row.max_inputs, perMinute: row.per_minute, maxBlobBytes: row.max_blob_bytes },
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

export async function findSubmitter(q: Queryable, tokenHash: string): Promise<Submitter | null> {
  const row = (await q.query<SubmitterRow>('SELECT * FROM submitters WHERE token_hash = $1 AND revoked_at IS NULL', [tokenHash])).rows[0];
  return row ? toSubmitter(row) : null;
}

/** False when the name was ever used (names are not reused, so no token inherits old jobs). */
export async function createSubmitter(q: Queryable, name: string, tokenHash: string, limits: SubmitterLimits, now: number): Promise<boolean> {
  const inserted = await q.query(
    `INSERT INTO submitters (name, token_hash, max_running, max_inputs, per_minute, max_blob_bytes, created_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) ON CONFLICT (name) DO NOTHING`,
    [name, tokenHash, limits.maxRunning, limits.maxInputs, limits.perMinute, limits.maxBlobBytes, now],
  );
  return (inserted.rowCount ?? 0) > 0;
}

export async function listSubmitters(q: Queryable): Promise<Submitter[]> {
  return (await q.query<SubmitterRow>('SELECT * FROM submitters ORDER BY name')).rows.map(toSubmitter);
}

export async function revokeSubmitter(q: Queryable, name: string, now: number): Promise<boolean> {
  return ((await q.query('UPDATE submitters SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL', [now, name])).rowCount ?? 0) > 0;
}

export async function submitterActivity(q: Queryable, name: string, since: number): Promise<SubmitterActivity> {
  const active = (
    await q.query<{ n: number }>(`SELECT count(*) AS n FROM jobs WHERE owner = $1 AND status IN ('queued', 'running') AND NOT deleted`, [name])
  ).rows[0]?.n ?? 0;
  const recent = (await q.query<{ at: number }>('SELECT at FROM submissions WHERE owner = $1 AND at > $2 ORDER BY at', [name, since])).rows.map((r) => r.at);
  return { active, recent };
}
