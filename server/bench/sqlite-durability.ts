/** Benchmark: what commit-before-ack costs with WAL synchronous=FULL (what the hub uses) against NORMAL. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseJobSpec } from '@edgeswarm/shared';
import { SqliteJobStore } from '../src/store/sqlite-job-store.ts';
import type { CheckedResult } from '../src/store/job-store.ts';

export interface DurabilityFigures {
  mode: 'FULL' | 'NORMAL';
  batch: number;
  /** Result commits (one transaction each) per second. */
  commitsPerSecond: number;
  /** Results stored per second. */
  resultsPerSecond: number;
  /** Microseconds per commit. */
  usPerCommit: number;
}

/** Leases and records `commits` batches of `batch` results, each batch one transaction as the hub does it. */
export function measure(mode: 'FULL' | 'NORMAL', batch: number, commits: number): DurabilityFigures {
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-bench-'));
  const store = new SqliteJobStore(join(dir, 'edgeswarm.db'));
  try {
    store.db.pragma(`synchronous = ${mode}`);
    const spec = parseJobSpec({ code: '(n) => n', inputs: { range: { start: 0, end: batch * commits } } });
    if (!spec.ok) throw new Error(spec.message);
    store.createJob(spec.value, Date.now());
    const leases = [];
    for (let i = 0; i < commits; i++) {
      const lease = store.leaseWork({ deviceId: 'bench', connId: 'bench', max: batch, deadline: 1e12, now: Date.now() });
      if (!lease) throw new Error('no work to lease');
      leases.push(lease);
    }
    const start = performance.now();
    for (const lease of leases) {
      const results: CheckedResult[] = lease.items.map((it) => ({ index: it.index, ok: true, json: String(it.input), value: it.input }));
      store.recordResults(lease.lease.id, 'bench', results, Date.now());
    }
    const seconds = (performance.now() - start) / 1000;
    return {
      mode,
      batch,
      commitsPerSecond: commits / seconds,
      resultsPerSecond: (commits * batch) / seconds,
      usPerCommit: (seconds * 1e6) / commits,
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
