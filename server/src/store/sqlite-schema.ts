/** The SQLite schema of the hub's store and its pragmas; versioned with `user_version`. */
import type Database from 'better-sqlite3';

export const SCHEMA_VERSION = 9;

const V1 = `
CREATE TABLE jobs (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  name         TEXT NOT NULL,
  code         TEXT NOT NULL,
  inputs_kind  TEXT NOT NULL CHECK (inputs_kind IN ('array', 'range')),
  range_start  INTEGER,
  range_step   INTEGER,
  total        INTEGER NOT NULL,
  reduce       TEXT NOT NULL,
  timeout_ms   INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  meta         TEXT NOT NULL,
  status       TEXT NOT NULL,
  next_index   INTEGER NOT NULL DEFAULT 0,
  queued       INTEGER NOT NULL DEFAULT 0,
  leased       INTEGER NOT NULL DEFAULT 0,
  completed    INTEGER NOT NULL DEFAULT 0,
  failed       INTEGER NOT NULL DEFAULT 0,
  result       TEXT,
  error        TEXT,
  created_at   INTEGER NOT NULL,
  started_at   INTEGER,
  finished_at  INTEGER,
  deleted      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_status ON jobs (status, seq) WHERE deleted = 0;
CREATE INDEX jobs_deleted ON jobs (deleted) WHERE deleted = 1;

-- An inputs array, stored once, in chunks of INPUT_CHUNK elements.
CREATE TABLE input_chunks (
  job_seq INTEGER NOT NULL,
  chunk   INTEGER NOT NULL,
  items   TEXT NOT NULL,
  PRIMARY KEY (job_seq, chunk)
) WITHOUT ROWID;

-- Subtask state, created when an input is first leased: state is leased, queued (to run again), done or failed.
CREATE TABLE subtasks (
  job_seq  INTEGER NOT NULL,
  idx      INTEGER NOT NULL,
  state    TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  losses   INTEGER NOT NULL DEFAULT 0,
  lease_id TEXT,
  result   TEXT,
  PRIMARY KEY (job_seq, idx)
) WITHOUT ROWID;
CREATE INDEX subtasks_queued ON subtasks (job_seq, idx) WHERE state = 'queued';
CREATE INDEX subtasks_by_lease ON subtasks (lease_id) WHERE state = 'leased';

-- Leases stay (closed) until their job ends, so a late result from an earlier holder is recognised.
CREATE TABLE leases (
  id        TEXT PRIMARY KEY,
  job_seq   INTEGER NOT NULL,
  device_id TEXT NOT NULL,
  conn_id   TEXT NOT NULL,
  deadline  INTEGER NOT NULL,
  -- Heartbeats extend the deadline up to here: enough for every item to time out once, so a lease cannot live forever.
  max_deadline INTEGER NOT NULL,
  items     TEXT NOT NULL,
  open      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX leases_open_by_conn ON leases (conn_id) WHERE open = 1;
CREATE INDEX leases_open_by_deadline ON leases (deadline) WHERE open = 1;
CREATE INDEX leases_by_job ON leases (job_seq);

CREATE TABLE devices (
  id           TEXT PRIMARY KEY,
  kind         TEXT NOT NULL,
  name         TEXT NOT NULL,
  threads      INTEGER NOT NULL,
  state        TEXT NOT NULL,
  completed    INTEGER NOT NULL DEFAULT 0,
  failed       INTEGER NOT NULL DEFAULT 0,
  rejected     INTEGER NOT NULL DEFAULT 0,
  connections  INTEGER NOT NULL DEFAULT 0,
  connected_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
);
CREATE INDEX devices_online ON devices (connected_at) WHERE connections > 0;
`;

/** Version 2: job priority and the virtual time that shares devices among running jobs. */
const V2 = `
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN vtime REAL NOT NULL DEFAULT 0;
`;

/**
 * Version 3: tail copies. A speculative lease re-leases inputs another device still holds, at the end
 * of a job; `copies` marks an input that has a copy out, so it gets at most one.
 */
const V3 = `
ALTER TABLE leases ADD COLUMN speculative INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subtasks ADD COLUMN copies INTEGER NOT NULL DEFAULT 0;
`;

/**
 * Version 4: a tail copy counts the inputs it has reported (it closes when all have a result), an
 * input whose copy failed is marked `copies = 2` (no more copies), and open leases are indexed by job.
 */
const V4 = `
ALTER TABLE leases ADD COLUMN reported INTEGER NOT NULL DEFAULT 0;
CREATE INDEX leases_open_by_job ON leases (job_seq) WHERE open = 1;
`;

/** Version 5: named submitter tokens (stored hashed, with their limits) and the owner of each job. */
const V5 = `
CREATE TABLE submitters (
  name        TEXT PRIMARY KEY,
  token_hash  TEXT NOT NULL UNIQUE,
  max_running INTEGER NOT NULL,
  max_inputs  INTEGER NOT NULL,
  per_minute  INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
ALTER TABLE jobs ADD COLUMN owner TEXT;
CREATE INDEX jobs_by_owner ON jobs (owner, seq) WHERE deleted = 0;
`;

/** Version 6: when each submitter submitted (kept an hour), so deleting jobs does not reset the per-minute limit. */
const V6 = `
CREATE TABLE submissions (
  owner TEXT NOT NULL,
  at    INTEGER NOT NULL
);
CREATE INDEX submissions_by_owner ON submissions (owner, at);
`;

/**
 * Version 7: result verification. A verified job runs each input on several distinct devices
 * (`replicas`, one row per run); its subtask is `queued` while it has a replica slot open (`target`
 * runs wanted minus runs out or reported) and `leased` while every slot is taken. Devices keep a
 * record (valid and invalid results, a streak of valid ones for adaptive jobs) and may be quarantined.
 */
const V7 = `
ALTER TABLE jobs ADD COLUMN verify TEXT NOT NULL DEFAULT 'none';
ALTER TABLE jobs ADD COLUMN replication INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN quorum INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN tolerance REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN rechecked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subtasks ADD COLUMN target INTEGER NOT NULL DEFAULT 1;
CREATE TABLE replicas (
  job_seq   INTEGER NOT NULL,
  idx       INTEGER NOT NULL,
  lease_id  TEXT NOT NULL,
  device_id TEXT NOT NULL,
  address   TEXT,
  -- leased (running), ok (reported a result), error (the run failed), void (its device was caught; result thrown away)
  state     TEXT NOT NULL,
  result    TEXT,
  -- order of arrival among the input's results (the first of a group is its reference)
  arrival   INTEGER,
  -- NULL until judged: valid or invalid against the accepted result, disputed (disagreed with an accepted result
  -- backed by no majority), or unchecked (accepted alone)
  verdict   TEXT,
  PRIMARY KEY (job_seq, idx, lease_id)
) WITHOUT ROWID;
CREATE INDEX replicas_leased ON replicas (lease_id) WHERE state = 'leased';
CREATE INDEX replicas_by_device ON replicas (device_id, state);
ALTER TABLE devices ADD COLUMN valid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN invalid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN streak INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN quarantined_at INTEGER;
ALTER TABLE devices ADD COLUMN address TEXT;
`;

/**
 * Version 8: blobs (work modules' bundles and shared files), content-addressed. Bytes are kept in
 * chunks of BLOB_CHUNK_BYTES (`sha256` is NULL while an upload writes them); `blob_owners` holds each
 * owner's claim (the admin's under ''), counted in its quota; `job_blobs` the blobs each job refers to.
 * Jobs name their bundle (or keep inline code) and shared files; submitters get a bytes quota.
 */
const V8 = `
CREATE TABLE blobs (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  sha256     TEXT UNIQUE,
  size       INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
-- A rowid table: its rows are large, and WITHOUT ROWID tables want small ones.
CREATE TABLE blob_chunks (
  blob_seq INTEGER NOT NULL,
  chunk    INTEGER NOT NULL,
  data     BLOB NOT NULL,
  UNIQUE (blob_seq, chunk)
);
CREATE TABLE blob_owners (
  owner      TEXT NOT NULL,
  sha256     TEXT NOT NULL,
  size       INTEGER NOT NULL,
  touched_at INTEGER NOT NULL,
  PRIMARY KEY (owner, sha256)
) WITHOUT ROWID;
CREATE INDEX blob_owners_by_blob ON blob_owners (sha256);
CREATE TABLE job_blobs (
  job_seq INTEGER NOT NULL,
  sha256  TEXT NOT NULL,
  PRIMARY KEY (job_seq, sha256)
) WITHOUT ROWID;
CREATE INDEX job_blobs_by_blob ON job_blobs (sha256);
ALTER TABLE jobs ADD COLUMN bundle TEXT;
ALTER TABLE jobs ADD COLUMN bundle_size INTEGER;
ALTER TABLE jobs ADD COLUMN shared TEXT;
ALTER TABLE submitters ADD COLUMN max_blob_bytes INTEGER NOT NULL DEFAULT 2147483648;
`;

/** v9: what each device did for each job (the time model, Job.timing). */
const V9 = `
CREATE TABLE job_device_timing (
  job_seq    INTEGER NOT NULL,
  device_id  TEXT NOT NULL,
  threads    INTEGER NOT NULL,
  runs       INTEGER NOT NULL,
  compute_ms REAL NOT NULL,
  extra_ms   REAL NOT NULL,
  messages   INTEGER NOT NULL,
  rtt_sum_ms REAL NOT NULL,
  rtt_count  INTEGER NOT NULL,
  PRIMARY KEY (job_seq, device_id)
) WITHOUT ROWID;
`;

/** Opens pragmas and migrates. WAL with synchronous=FULL: a committed transaction survives a crash of the process and of the machine. */
export function prepareDatabase(db: Database.Database): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // After a checkpoint, the WAL file is cut back to this size instead of keeping its largest size on disk.
  db.pragma('journal_size_limit = 67108864');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `the database was written by a newer Edgeswarm (schema ${version}; this hub knows ${SCHEMA_VERSION})`,
    );
  }
  const migrations: [number, string][] = [
    [1, V1],
    [2, V2],
    [3, V3],
    [4, V4],
    [5, V5],
    [6, V6],
    [7, V7],
    [8, V8],
    [9, V9],
  ];
  for (const [target, sql] of migrations) {
    if (version >= target) continue;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${target}`);
    })();
  }
}
