/** Results of one device waiting to reach the hub, for the volunteer page and the Node agent alike: sends each batch with `work:submit`, retries until acknowledged, resends after reconnects. */
import { errorText } from '../runtime/job-function.ts';
import type { Ack } from '../protocol/ack.ts';
import type { RunResult, SubmitReceipt, WorkSubmit } from '../protocol/messages.ts';

// Both runtimes (browsers, Node) have these timers; shared code compiles without platform types.
declare function setTimeout(fn: () => void, ms: number): unknown;
declare function clearTimeout(handle: unknown): void;

export interface OutboxOptions {
  /** Emits one `work:submit` and resolves to its ack; rejects on ack timeout or disconnect. */
  send(submit: WorkSubmit): Promise<Ack<SubmitReceipt>>;
  /** Whether the socket is connected now; batches wait for `resendAll()` otherwise. */
  canSend(): boolean;
  onReceipt(results: readonly RunResult[], receipt: SubmitReceipt, jobId: string): void;
  onGiveUp(results: readonly RunResult[], reason: string): void;
  /** @defaultValue 8 sends that fail or time out while connected */
  maxAttempts?: number;
}

interface Batch {
  leaseId: string;
  jobId: string;
  results: RunResult[];
  attempts: number;
  inFlight: boolean;
  retryTimer: unknown;
}

const backoffMs = (attempts: number): number => Math.min(250 * 2 ** attempts, 10_000);

/**
 * The hub drops results it already has, so resending after a lost ack is safe; giving up only
 * costs a recomputation elsewhere once the lease expires.
 */
export class ResultOutbox {
  private readonly batches = new Set<Batch>();
  /** Jobs stopped by the hub: their batches are not retried. */
  private readonly droppedJobs = new Set<string>();
  private readonly maxAttempts: number;
  private emptyWaiters: (() => void)[] = [];

  constructor(private readonly options: OutboxOptions) {
    this.maxAttempts = options.maxAttempts ?? 8;
  }

  get size(): number {
    return this.batches.size;
  }

  add(leaseId: string, jobId: string, results: RunResult[]): void {
    if (results.length === 0) return;
    const batch: Batch = { leaseId, jobId, results, attempts: 0, inFlight: false, retryTimer: null };
    this.batches.add(batch);
    this.send(batch);
  }

  /** After a (re)connect: sends every batch that is not already on its way. */
  resendAll(): void {
    for (const batch of this.batches) {
      this.clearRetry(batch);
      this.send(batch);
    }
  }

  /** Forgets unsent results of a stopped job; a batch already in flight still gets its receipt counted. */
  dropJob(jobId: string): void {
    if (this.droppedJobs.size >= 1000) this.droppedJobs.clear();
    this.droppedJobs.add(jobId);
    for (const batch of this.batches) if (batch.jobId === jobId && !batch.inFlight) this.remove(batch);
  }

  /** Resolves once every batch was acknowledged or dropped, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    if (this.batches.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.emptyWaiters.push(done);
    });
  }

  clear(): void {
    for (const batch of this.batches) this.remove(batch);
  }

  private send(batch: Batch): void {
    if (batch.inFlight || !this.batches.has(batch) || !this.options.canSend()) return;
    batch.inFlight = true;
    this.options.send({ leaseId: batch.leaseId, results: batch.results }).then(
      (ack) => {
        batch.inFlight = false;
        if (!this.batches.has(batch)) return;
        if (ack.ok) {
          this.remove(batch);
          this.options.onReceipt(batch.results, ack.data, batch.jobId);
        } else if (this.droppedJobs.has(batch.jobId)) {
          this.remove(batch);
        } else {
          this.retry(batch, `${ack.error.code}: ${ack.error.message}`);
        }
      },
      (err: unknown) => {
        batch.inFlight = false;
        if (this.batches.has(batch)) this.retry(batch, errorText(err));
      },
    );
  }

  private retry(batch: Batch, reason: string): void {
    if (this.droppedJobs.has(batch.jobId)) {
      this.remove(batch);
      return;
    }
    if (!this.options.canSend()) return; // disconnected: resendAll() runs on the next connect
    batch.attempts++;
    if (batch.attempts >= this.maxAttempts) {
      this.remove(batch);
      this.options.onGiveUp(batch.results, reason);
      return;
    }
    this.clearRetry(batch);
    batch.retryTimer = setTimeout(() => {
      batch.retryTimer = null;
      this.send(batch);
    }, backoffMs(batch.attempts));
  }

  private clearRetry(batch: Batch): void {
    if (batch.retryTimer !== null) clearTimeout(batch.retryTimer);
    batch.retryTimer = null;
  }

  private remove(batch: Batch): void {
    this.clearRetry(batch);
    this.batches.delete(batch);
    if (this.batches.size === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}
