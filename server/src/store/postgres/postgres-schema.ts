/**
 * The PostgreSQL schema of the hub's store, versioned in `edgeswarm_schema`. Migrations run in one transaction under
 * an advisory lock, so hubs that start together on one database migrate it once. The tables mirror the SQLite
 * engine's (./../sqlite-schema.ts) so both engines answer the conformance suite alike; times are milliseconds
 * (BIGINT), JSON is kept as text (its key order is the submitter's), blob bytes as BYTEA chunks.
 */
import type pg from 'pg';

export const PG_SCHEMA_VERSION = 5;

/** Any constant: the key of the advisory lock hubs take while they migrate. */
const MIGRATION_LOCK = 0x6564_6765;

const V1 = `
CREATE TABLE jobs (
  seq          BIGSERIAL PRIMARY KEY,
  id           TEXT NOT NULL UNIQUE,
  name         TEXT NOT NULL,
  code         TEXT NOT NULL,
  inputs_kind  TEXT NOT NULL CHECK (inputs_kind IN ('array', 'range')),
  range_start  BIGINT,
  range_step   BIGINT,
  total        BIGINT NOT NULL,
  reduce       TEXT NOT NULL,
  timeout_ms   INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  meta         TEXT NOT NULL,
  status       TEXT NOT NULL,
  next_index   BIGINT NOT NULL DEFAULT 0,
  queued       BIGINT NOT NULL DEFAULT 0,
  leased       BIGINT NOT NULL DEFAULT 0,
  completed    BIGINT NOT NULL DEFAULT 0,
  failed       BIGINT NOT NULL DEFAULT 0,
  result       TEXT,
  error        TEXT,
  created_at   BIGINT NOT NULL,
  started_at   BIGINT,
  finished_at  BIGINT,
  deleted      BOOLEAN NOT NULL DEFAULT false,
  priority     INTEGER NOT NULL DEFAULT 0,
  vtime        DOUBLE PRECISION NOT NULL DEFAULT 0,
  owner        TEXT,
  verify       TEXT NOT NULL DEFAULT 'none',
  replication  INTEGER NOT NULL DEFAULT 1,
  quorum       INTEGER NOT NULL DEFAULT 1,
  tolerance    DOUBLE PRECISION NOT NULL DEFAULT 0,
  rechecked    BIGINT NOT NULL DEFAULT 0,
  bundle       TEXT,
  bundle_size  BIGINT,
  shared       TEXT
);
CREATE INDEX jobs_by_status ON jobs (status, seq) WHERE NOT deleted;
CREATE INDEX jobs_deleted ON jobs (seq) WHERE deleted;
CREATE INDEX jobs_by_owner ON jobs (owner, seq) WHERE NOT deleted;

CREATE TABLE input_chunks (
  job_seq BIGINT NOT NULL,
  chunk   INTEGER NOT NULL,
  items   TEXT NOT NULL,
  PRIMARY KEY (job_seq, chunk)
);

CREATE TABLE subtasks (
  job_seq  BIGINT NOT NULL,
  idx      BIGINT NOT NULL,
  state    TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  losses   INTEGER NOT NULL DEFAULT 0,
  lease_id TEXT,
  result   TEXT,
  copies   INTEGER NOT NULL DEFAULT 0,
  target   INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (job_seq, idx)
);
CREATE INDEX subtasks_queued ON subtasks (job_seq, idx) WHERE state = 'queued';
CREATE INDEX subtasks_by_lease ON subtasks (lease_id) WHERE state = 'leased';

CREATE TABLE leases (
  id           TEXT PRIMARY KEY,
  job_seq      BIGINT NOT NULL,
  device_id    TEXT NOT NULL,
  conn_id      TEXT NOT NULL,
  deadline     DOUBLE PRECISION NOT NULL,
  max_deadline DOUBLE PRECISION NOT NULL,
  items        TEXT NOT NULL,
  open         BOOLEAN NOT NULL DEFAULT true,
  speculative  BOOLEAN NOT NULL DEFAULT false,
  reported     INTEGER NOT NULL DEFAULT 0,
  granted      BIGSERIAL
);
CREATE INDEX leases_open_by_conn ON leases (conn_id) WHERE open;
CREATE INDEX leases_open_by_deadline ON leases (deadline) WHERE open;
CREATE INDEX leases_by_job ON leases (job_seq);
CREATE INDEX leases_open_by_job ON leases (job_seq) WHERE open;

CREATE TABLE replicas (
  job_seq   BIGINT NOT NULL,
  idx       BIGINT NOT NULL,
  lease_id  TEXT NOT NULL,
  device_id TEXT NOT NULL,
  address   TEXT,
  state     TEXT NOT NULL,
  result    TEXT,
  arrival   BIGINT,
  verdict   TEXT,
  PRIMARY KEY (job_seq, idx, lease_id)
);
CREATE INDEX replicas_leased ON replicas (lease_id) WHERE state = 'leased';
CREATE INDEX replicas_by_device ON replicas (device_id, state);

CREATE TABLE devices (
  id             TEXT PRIMARY KEY,
  kind           TEXT NOT NULL,
  name           TEXT NOT NULL,
  threads        INTEGER NOT NULL,
  state          TEXT NOT NULL,
  completed      BIGINT NOT NULL DEFAULT 0,
  failed         BIGINT NOT NULL DEFAULT 0,
  rejected       BIGINT NOT NULL DEFAULT 0,
  connections    INTEGER NOT NULL DEFAULT 0,
  connected_at   BIGINT NOT NULL,
  last_seen_at   BIGINT NOT NULL,
  valid          BIGINT NOT NULL DEFAULT 0,
  invalid        BIGINT NOT NULL DEFAULT 0,
  streak         BIGINT NOT NULL DEFAULT 0,
  quarantined_at BIGINT,
  address        TEXT
);
CREATE INDEX devices_online ON devices (connected_at) WHERE connections > 0;

CREATE TABLE submitters (
  name           TEXT PRIMARY KEY,
  token_hash     TEXT NOT NULL UNIQUE,
  max_running    INTEGER NOT NULL,
  max_inputs     BIGINT NOT NULL,
  per_minute     INTEGER NOT NULL,
  max_blob_bytes BIGINT NOT NULL,
  created_at     BIGINT NOT NULL,
  revoked_at     BIGINT
);
CREATE TABLE submissions (
  owner TEXT NOT NULL,
  at    BIGINT NOT NULL
);
CREATE INDEX submissions_by_owner ON submissions (owner, at);

CREATE TABLE blobs (
  seq        BIGSERIAL PRIMARY KEY,
  sha256     TEXT UNIQUE,
  size       BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE blob_chunks (
  blob_seq BIGINT NOT NULL,
  chunk    INTEGER NOT NULL,
  data     BYTEA NOT NULL,
  PRIMARY KEY (blob_seq, chunk)
);
CREATE TABLE blob_owners (
  owner      TEXT NOT NULL,
  sha256     TEXT NOT NULL,
  size       BIGINT NOT NULL,
  touched_at BIGINT NOT NULL,
  PRIMARY KEY (owner, sha256)
);
CREATE INDEX blob_owners_by_blob ON blob_owners (sha256);
CREATE TABLE job_blobs (
  job_seq BIGINT NOT NULL,
  sha256  TEXT NOT NULL,
  PRIMARY KEY (job_seq, sha256)
);
CREATE INDEX job_blobs_by_blob ON job_blobs (sha256);
`;

/**
 * Several hubs on one database: the hubs and their heartbeats, which hub holds each device connection and each
 * lease (so a dead hub's can be reclaimed), events hubs pass to each other, and settings shared by all hubs.
 */
const V2 = `
ALTER TABLE leases ADD COLUMN hub TEXT NOT NULL DEFAULT '';
CREATE INDEX leases_open_by_hub ON leases (hub) WHERE open;
ALTER TABLE devices ADD COLUMN hub TEXT;

CREATE TABLE device_connections (
  device_id TEXT NOT NULL,
  hub       TEXT NOT NULL,
  n         INTEGER NOT NULL,
  since     BIGINT NOT NULL,
  PRIMARY KEY (device_id, hub)
);
CREATE INDEX device_connections_by_hub ON device_connections (hub);

CREATE TABLE hubs (
  name       TEXT PRIMARY KEY,
  started_at BIGINT NOT NULL,
  beat_at    DOUBLE PRECISION NOT NULL,
  stopped    BOOLEAN NOT NULL DEFAULT false,
  devices    INTEGER NOT NULL DEFAULT 0,
  threads    INTEGER NOT NULL DEFAULT 0,
  rate       DOUBLE PRECISION NOT NULL DEFAULT 0,
  completed  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE hub_events (
  seq    BIGSERIAL PRIMARY KEY,
  hub    TEXT NOT NULL,
  kind   TEXT NOT NULL,
  job_id TEXT,
  at     DOUBLE PRECISION NOT NULL
);

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/** Which machine and process each hub runs as: a hub restarted after a crash takes its name back at once. */
const V3 = `
ALTER TABLE hubs ADD COLUMN host TEXT;
ALTER TABLE hubs ADD COLUMN pid INTEGER;
`;

/** Which hub aggregates a job whose every input is done, and since when (database time): one hub, not each. */
const V4 = `
ALTER TABLE jobs ADD COLUMN finalizer TEXT;
ALTER TABLE jobs ADD COLUMN finalizer_since DOUBLE PRECISION;
`;

/**
 * v5: what each device did for each job (the time model, Job.timing). One row per device and job: a device talks
 * to one hub at a time, so hubs do not contend for these rows.
 */
const V5 = `
CREATE TABLE job_device_timing (
  job_seq    BIGINT NOT NULL,
  device_id  TEXT NOT NULL,
  threads    INTEGER NOT NULL,
  runs       BIGINT NOT NULL,
  compute_ms DOUBLE PRECISION NOT NULL,
  extra_ms   DOUBLE PRECISION NOT NULL,
  messages   BIGINT NOT NULL,
  rtt_sum_ms DOUBLE PRECISION NOT NULL,
  rtt_count  BIGINT NOT NULL,
  PRIMARY KEY (job_seq, device_id)
);
`;

/** Creates or migrates the schema; refuses a database written by a newer hub. */
export async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS edgeswarm_schema (version INTEGER NOT NULL)');
    const row = (await client.query<{ version: number }>('SELECT version FROM edgeswarm_schema')).rows[0];
    const version = row?.version ?? 0;
    if (version > PG_SCHEMA_VERSION) {
      throw new Error(`the database was written by a newer Edgeswarm (schema ${version}; this hub knows ${PG_SCHEMA_VERSION})`);
    }
    const migrations: [number, string][] = [
      [1, V1],
      [2, V2],
      [3, V3],
      [4, V4],
      [5, V5],
    ];
    for (const [target, sql] of migrations) {
      if (version >= target) continue;
      await client.query(sql);
    }
    if (version === 0) await client.query('INSERT INTO edgeswarm_schema (version) VALUES ($1)', [PG_SCHEMA_VERSION]);
    else if (version < PG_SCHEMA_VERSION) await client.query('UPDATE edgeswarm_schema SET version = $1', [PG_SCHEMA_VERSION]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
