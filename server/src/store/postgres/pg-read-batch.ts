/** Reads of one event-loop turn by key, coalesced into one statement (the lease contexts of every result batch). */

type Waiter<V> = { resolve: (value: V | null) => void; reject: (err: unknown) => void };

/**
 * `get(key)` calls made in one turn of the event loop are answered by one `fetch` of all their keys, run on the
 * next turn: a thousand devices reporting results in one turn cost one query, not a thousand.
 */
export class ReadCoalescer<K, V> {
  private pending = new Map<K, Waiter<V>[]>();
  private scheduled = false;

  constructor(private readonly fetch: (keys: K[]) => Promise<Map<K, V>>) {}

  get(key: K): Promise<V | null> {
    return new Promise<V | null>((resolve, reject) => {
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    try {
      const values = await this.fetch([...batch.keys()]);
      for (const [key, waiters] of batch) for (const w of waiters) w.resolve(values.get(key) ?? null);
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
    }
  }
}
