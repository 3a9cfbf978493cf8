/**
 * The storage contract as the hub uses it: every call returns a promise that settles once its effect is durable
 * (rejecting with `StoreUnavailableError` when the commit that held it failed), so callers acknowledge after
 * `await`, whatever the engine batches behind it. `sqliteStore` adapts the embedded SQLite engine (synchronous,
 * group-committing) to it; a PostgreSQL engine implements it natively.
 */
import type { SyncJobStore } from './job-store.ts';

type Engine = Omit<SyncJobStore, 'afterCommit' | 'observeCommits' | 'close'>;

/** Each operation of `SyncJobStore`, answered by a promise once durable. */
export type JobStore = {
  [K in keyof Engine]: Engine[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never;
} & {
  /** Reports each commit that made device calls durable (engines that group commits). */
  observeCommits?(observer: (seconds: number, calls: number) => void): void;
  close(): Promise<void>;
};

/**
 * Calls of the device path that write, and join the engine's open group transaction: their promise waits
 * for that group's commit (one fsync for every device call of one turn of the event loop).
 */
const GROUPED_WRITES: ReadonlySet<PropertyKey> = new Set(['leaseWork', 'leaseTail', 'recordResults', 'renewLeases']);

type AnyMethod = (...args: unknown[]) => unknown;

/**
 * The SQLite engine behind the asynchronous contract. Grouped writes resolve after the group commit that holds
 * them; every other call has committed (or only read) when it returns, and resolves at once.
 */
export function sqliteStore(engine: SyncJobStore): JobStore {
  const durable = (): Promise<void> => new Promise((resolve, reject) => engine.afterCommit((err) => (err ? reject(err) : resolve())));
  const cache = new Map<PropertyKey, AnyMethod>();
  const wrap = (prop: PropertyKey, method: AnyMethod): AnyMethod => {
    if (prop === 'observeCommits') return method.bind(engine);
    if (prop === 'close') {
      return async () => {
        engine.close();
      };
    }
    if (GROUPED_WRITES.has(prop)) {
      return async (...args: unknown[]) => {
        const value = method.apply(engine, args);
        await durable();
        return value;
      };
    }
    return async (...args: unknown[]) => method.apply(engine, args);
  };
  return new Proxy(engine as unknown as JobStore, {
    get(target, prop) {
      const value = Reflect.get(engine, prop, engine) as unknown;
      if (typeof value !== 'function') return value;
      let wrapped = cache.get(prop);
      if (!wrapped) {
        wrapped = wrap(prop, value as AnyMethod);
        cache.set(prop, wrapped);
      }
      void target;
      return wrapped;
    },
  });
}
