/**
 * Group commit for the SQLite store: the writes of device calls made in one turn of the event loop
 * share one transaction (one fsync), committed on `setImmediate`; callers acknowledge in `afterCommit`.
 * Also what SQLite's errors mean for callers (`translateError`).
 */
import Database from 'better-sqlite3';
import { StoreUnavailableError } from './job-store.ts';

/** SQLite result codes that mean "not now" rather than "this request is wrong". */
const UNAVAILABLE = /^SQLITE_(FULL|BUSY|LOCKED|IOERR|READONLY|CANTOPEN|PROTOCOL|NOMEM)/;

export function translateError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Database.SqliteError && typeof code === 'string' && UNAVAILABLE.test(code)) {
    return new StoreUnavailableError(`the database cannot take this now (${code}: ${err.message})`, { cause: err });
  }
  return err;
}

interface CommitGroup {
  calls: number;
  waiting: ((err: Error | null) => void)[];
}

export class CommitGroups {
  private group: CommitGroup | null = null;
  private observer: (seconds: number, calls: number) => void = () => {};

  constructor(private readonly db: Database.Database) {}

  /** Runs `callback` once every write so far is durable: at once when no group is open, else after its commit. */
  afterCommit(callback: (err: Error | null) => void): void {
    if (this.group) this.group.waiting.push(callback);
    else callback(null);
  }

  observe(observer: (seconds: number, calls: number) => void): void {
    this.observer = observer;
  }

  /** Commits the open group, if any (before a call that must not see or expose uncommitted work). */
  commitOpen(): void {
    if (this.group) this.commit();
  }

  /** Joins the open group transaction, or opens one and schedules its commit. */
  enter(): void {
    if (this.group && !this.db.inTransaction) {
      // SQLite rolled the whole transaction back after an error (disk full, I/O): its writes are gone.
      this.settle(new StoreUnavailableError('the database rolled back a group of writes after an error; nothing in it was saved'));
    }
    if (!this.group) {
      this.dropStrayTransaction();
      this.db.exec('BEGIN IMMEDIATE');
      this.group = { calls: 0, waiting: [] };
      setImmediate(() => {
        if (this.group) this.commit();
      });
    }
    this.group.calls++;
  }

  /**
   * A transaction open with no group is left over from a failed ROLLBACK: whatever it holds was
   * never acknowledged. Roll it back before anything else runs, or refuse to run.
   */
  dropStrayTransaction(): void {
    if (!this.db.inTransaction) return;
    try {
      this.db.exec('ROLLBACK');
    } catch {
      // Checked below.
    }
    if (this.db.inTransaction) throw new StoreUnavailableError('the database holds a transaction it cannot roll back; restart the hub');
  }

  /** Commits the open group, then tells everyone waiting in `afterCommit`. */
  private commit(): void {
    const group = this.group;
    if (!group) return;
    const start = performance.now();
    let failure: Error | null = null;
    try {
      if (!this.db.inTransaction) throw new Error('the group transaction was rolled back after an error');
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) {
        try {
          this.db.exec('ROLLBACK');
        } catch {
          // Nothing more to undo.
        }
      }
      const translated = translateError(err);
      failure =
        translated instanceof StoreUnavailableError
          ? translated
          : new StoreUnavailableError(`the database could not commit (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    if (failure === null) {
      try {
        this.observer((performance.now() - start) / 1000, group.calls);
      } catch {
        // Metrics must not turn a commit into a failure.
      }
    }
    this.settle(failure);
  }

  private settle(failure: Error | null): void {
    const group = this.group;
    this.group = null;
    for (const callback of group?.waiting ?? []) {
      try {
        callback(failure);
      } catch {
        // A caller's acknowledgement failing must not stop the others.
      }
    }
  }
}
