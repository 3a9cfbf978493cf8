/**
 * Group commit on PostgreSQL: the device calls (leases, results, renewals) made in one turn of the event loop run in
 * one transaction, and every one of them settles after its COMMIT, so a busy hub pays one commit (one WAL flush) for
 * many calls, as graphile-worker and pg-boss batch their claims. Calls of one kind (a `BatchGroup`) may be done
 * together, in a few set-based statements for the whole batch rather than a few per call. One batch runs at a time;
 * calls made meanwhile form the next, so a hub's writes never wait for each other's locks. When the batch fails, it is
 * rolled back and each of its calls runs again in a transaction of its own, so one failing call cannot take the
 * others' work with it.
 */
import type { PgSession, Queryable } from './pg-session.ts';

/** A kind of call, and how to do many of them at once. */
export interface BatchGroup<A, T> {
  /** What the calls are (for logs and metrics). */
  readonly name: string;
  /**
   * Every call of the batch, in the order they were made; one value each, in that order. `prepared` is what
   * `prepare` read for these calls, when the group has one.
   */
  many(q: Queryable, args: A[], prepared?: unknown): Promise<T[]>;
  /**
   * Reads for `many` that need no lock, done at the start of the transaction, before any group takes jobs' rows
   * (which other hubs' batches then wait for until this one commits).
   */
  prepare?(q: Queryable, args: A[]): Promise<unknown>;
  /** One call alone (when its batch failed). */
  one(q: Queryable, arg: A): Promise<T>;
  /**
   * Where in a batch's transaction the group runs (lower first; 0 when unset). Groups that lock jobs' rows run last,
   * so the transaction holds those locks, which other hubs' batches of the same jobs wait for, as briefly as it can.
   */
  readonly order?: number;
}

/** Calls with nothing to share: done one after the other. */
export const SEPARATE: BatchGroup<(q: Queryable) => Promise<unknown>, unknown> = {
  name: 'separate',
  order: 1,
  async many(q, runs) {
    const values: unknown[] = [];
    for (const run of runs) values.push(await run(q));
    return values;
  },
  one: (q, run) => run(q),
};

interface Pending {
  group: BatchGroup<unknown, unknown>;
  arg: unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export interface BatchObserver {
  /** A batch committed: how long its transaction took, and how many calls it held. */
  (seconds: number, calls: number): void;
}

export class PgBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private running = false;
  private observer: BatchObserver | null = null;

  constructor(private readonly session: PgSession) {}

  /** One call of `group`; settles once the batch's transaction has committed. */
  add<A, T>(group: BatchGroup<A, T>, arg: A): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ group: group as BatchGroup<unknown, unknown>, arg, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  /** A call with nothing to share with others but the commit. */
  run<T>(run: (q: Queryable) => Promise<T>): Promise<T> {
    return this.add(SEPARATE, run) as Promise<T>;
  }

  observe(observer: BatchObserver): void {
    this.observer = observer;
  }

  /** Called after every batch, committed or not (what it changed is then visible to readers). */
  onSettled(listener: () => void): void {
    this.settled.push(listener);
  }

  private readonly settled: (() => void)[] = [];

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue;
    this.queue = [];
    const started = performance.now();
    // Groups by their `order`, then in the order their first call came; within a group, the calls in their order.
    const groups = new Map<BatchGroup<unknown, unknown>, Pending[]>();
    for (const call of batch) {
      const list = groups.get(call.group);
      if (list) list.push(call);
      else groups.set(call.group, [call]);
    }
    try {
      const values = new Map<Pending, unknown>();
      await this.session.tx(async (q) => {
        values.clear();
        const ordered = [...groups.entries()].sort((a, b) => (a[0].order ?? 0) - (b[0].order ?? 0));
        const prepared = new Map<BatchGroup<unknown, unknown>, unknown>();
        for (const [group, calls] of ordered) {
          if (group.prepare) {
            prepared.set(
              group,
              await group.prepare(
                q,
                calls.map((c) => c.arg),
              ),
            );
          }
        }
        for (const [group, calls] of ordered) {
          const out = await group.many(
            q,
            calls.map((c) => c.arg),
            prepared.get(group),
          );
          calls.forEach((call, i) => values.set(call, out[i]));
        }
      });
      this.observer?.((performance.now() - started) / 1000, batch.length);
      for (const call of batch) call.resolve(values.get(call));
    } catch {
      // Which call failed, and whether the others would have committed, is not known: each runs on its own, one after
      // the other (this hub still writes one transaction at a time).
      for (const call of batch) await this.session.tx((q) => call.group.one(q, call.arg)).then(call.resolve, call.reject);
    } finally {
      for (const listener of this.settled) listener();
      this.running = false;
      if (this.queue.length > 0) this.schedule();
    }
  }
}
