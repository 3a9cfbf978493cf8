/** The submitters table of the SQLite store: named tokens (hashed), their limits, and what they submitted lately. */
import type Database from 'better-sqlite3';
import type { Submitter, SubmitterActivity, SubmitterLimits } from './job-store.ts';

interface SubmitterRow {
  name: string;
  token_hash: string;
  max_running: number;
  max_inputs: number;
  per_minute: number;
  max_blob_bytes: number;
  created_at: number;
  revoked_at: number | null;
}

function toSubmitter(row: SubmitterRow): Submitter {
  return {
    name: row.name,
    limits: { maxRunning: row.max_running, maxInputs: row.max_inputs, perMinute: row.per_minute, maxBlobBytes: row.max_blob_bytes },
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export class SubmitterTable {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      byHash: db.prepare<[string], SubmitterRow>('SELECT * FROM submitters WHERE token_hash = ? AND revoked_at IS NULL'),
      byName: db.prepare<[string], SubmitterRow>('SELECT * FROM submitters WHERE name = ?'),
      insert: db.prepare<[string, string, number, number, number, number, number]>(
        `INSERT INTO submitters (name, token_hash, max_running, max_inputs, per_minute, max_blob_bytes, created_at, revoked_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
      ),
      all: db.prepare<[], SubmitterRow>('SELECT * FROM submitters ORDER BY name'),
      revoke: db.prepare<[number, string]>('UPDATE submitters SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL'),
      active: db.prepare<[string], { n: number }>(
        `SELECT count(*) AS n FROM jobs WHERE owner = ? AND status IN ('queued', 'running') AND deleted = 0`,
      ),
      // From the submissions log, not the jobs: deleting jobs must not make room.
      recent: db.prepare<[string, number], { at: number }>('SELECT at FROM submissions WHERE owner = ? AND at > ? ORDER BY at'),
    };
  }

  /** The live submitter whose token hashes to `tokenHash`. */
  find(tokenHash: string): Submitter | null {
    const row = this.q.byHash.get(tokenHash);
    return row ? toSubmitter(row) : null;
  }

  /** False when the name was ever used: jobs are owned by name, and a new token must not inherit old jobs. Call in a transaction. */
  create(name: string, tokenHash: string, limits: SubmitterLimits, now: number): boolean {
    if (this.q.byName.get(name)) return false;
    this.q.insert.run(name, tokenHash, limits.maxRunning, limits.maxInputs, limits.perMinute, limits.maxBlobBytes, now);
    return true;
  }

  list(): Submitter[] {
    return this.q.all.all().map(toSubmitter);
  }

  revoke(name: string, now: number): boolean {
    return this.q.revoke.run(now, name).changes > 0;
  }

  activity(name: string, since: number): SubmitterActivity {
    return { active: this.q.active.get(name)?.n ?? 0, recent: this.q.recent.all(name, since).map((r) => r.at) };
  }
}
