/**
 * A store that times the store's writes (until durable) and reports what they did to HubMetrics: leases
 * granted, results recorded, leases lost. Every other call goes straight to the store, so methods the
 * store gains later pass through unchanged.
 */
import type { ActiveLease, CheckedResult, RecordOutcome, ReleaseOutcome } from '../store/job-store.ts';
import type { JobStore } from '../store/async-store.ts';
import { STORE_WRITE_OPS, type HubMetrics, type StoreWriteOp } from './hub-metrics.ts';

type AnyMethod = (...args: unknown[]) => Promise<unknown>;

const WRITE_OPS: ReadonlySet<PropertyKey> = new Set(STORE_WRITE_OPS);

export function instrumentStore(
  store: JobStore,
  metrics: HubMetrics,
  log: (message: string, err?: unknown) => void = () => {},
): JobStore {
  /** What a write did, for the counters; runs only once the write is durable (its promise resolved). */
  const report = (op: StoreWriteOp, args: unknown[], value: unknown): void => {
    switch (op) {
      case 'leaseWork':
      case 'leaseTail': {
        const lease = value as ActiveLease | null;
        if (lease) metrics.leaseGranted(lease.items.length, lease.speculative === true);
        break;
      }
      case 'recordResults':
        metrics.resultsRecorded(args[2] as CheckedResult[], value as RecordOutcome);
        break;
      case 'expireLeases':
        metrics.leasesReleased('expired', value as ReleaseOutcome);
        break;
      case 'releaseConnectionLeases':
        metrics.leasesReleased('disconnected', value as ReleaseOutcome);
        break;
      case 'releaseAllLeases':
        metrics.leasesReleased('restart', value as ReleaseOutcome);
        break;
      default:
        break;
    }
  };

  const timed = (op: StoreWriteOp, method: AnyMethod): AnyMethod =>
    async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const start = performance.now();
      let value: unknown;
      try {
        value = await method.apply(store, args);
      } catch (err) {
        metrics.storeWriteFailed(op);
        throw err;
      }
      try {
        metrics.storeWriteTook(op, (performance.now() - start) / 1000);
        report(op, args, value);
      } catch (err) {
        // The write is durable: a metrics fault must not turn it into an error for the caller.
        log(`recording metrics for store.${op} failed`, err);
      }
      return value;
    };

  // Bound (and wrapped) methods are kept while the store's method stays the same one.
  const cache = new Map<PropertyKey, { method: AnyMethod; bound: AnyMethod }>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const method = value as AnyMethod;
      const cached = cache.get(prop);
      if (cached?.method === method) return cached.bound;
      const bound = WRITE_OPS.has(prop) ? timed(prop as StoreWriteOp, method) : method.bind(target);
      cache.set(prop, { method, bound });
      return bound;
    },
  });
}
