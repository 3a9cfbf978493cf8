// An observable snapshot for useSyncExternalStore: rebuilt on change, at most once per interval unless asked for at once.

export class SnapshotStore<TSnapshot> {
  private snapshot: TSnapshot;
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly build: () => TSnapshot,
    private readonly intervalMs: number,
  ) {
    this.snapshot = build();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): TSnapshot => this.snapshot;

  /** Frequent changes (every finished run) coalesce; state changes a user waits for go out at once. */
  changed(immediately = false): void {
    if (immediately) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.publish();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.publish();
    }, this.intervalMs);
  }

  private publish(): void {
    this.snapshot = this.build();
    for (const listener of this.listeners) listener();
  }
}
