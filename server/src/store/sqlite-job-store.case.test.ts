/** The store contract's conformance suite on the embedded SQLite engine (a real file in a temp dir, group commit on, as the hub runs it). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJobStoreSuite } from '../../test/support/job-store-suite.ts';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { sqliteStore } from './async-store.ts';

runJobStoreSuite({
  name: 'SQLite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-case-'));
    const engine = new SqliteJobStore(join(dir, 'edgeswarm.db'), { groupCommit: true });
    const store = sqliteStore(engine);
    return {
      store,
      probe: {
        rows: async (table) => (engine.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n,
        touchClaim: async (owner, at) => void engine.db.prepare('UPDATE blob_owners SET touched_at = ? WHERE owner = ?').run(at, owner),
      },
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
