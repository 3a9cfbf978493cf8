/** WorkService's engine-independent cases (server/test/support/work-service-suite.ts) and the time model on the embedded SQLite engine. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkServiceSuite, type WorkSuiteEngine } from '../../test/support/work-service-suite.ts';
import { runTimeModelSuite } from '../../test/support/time-model-suite.ts';
import { SqliteJobStore } from '../store/sqlite-job-store.ts';
import { sqliteStore, type JobStore } from '../store/async-store.ts';

const engine: WorkSuiteEngine = {
  name: 'SQLite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-work-'));
    const file = join(dir, 'edgeswarm.db');
    let store: JobStore = sqliteStore(new SqliteJobStore(file));
    return {
      store,
      async reopen() {
        await store.close();
        store = sqliteStore(new SqliteJobStore(file));
        return store;
      },
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
runWorkServiceSuite(engine);
runTimeModelSuite(engine);
