/** The verification cases on the embedded SQLite engine (a real file in a temp dir, group commit on, as the hub runs it). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runVerifiedSuite } from '../../test/support/verified-suite.ts';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { sqliteStore } from './async-store.ts';

runVerifiedSuite({
  name: 'SQLite',
  async open(random) {
    const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-verify-'));
    const engine = new SqliteJobStore(join(dir, 'edgeswarm.db'), { groupCommit: true, random });
    const store = sqliteStore(engine);
    return {
      store,
      probe: {
        rows: async (table) => (engine.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n,
        setDevice: async (id, v) => {
          engine.db.prepare('UPDATE devices SET quarantined_at = ?, streak = coalesce(?, streak) WHERE id = ?').run(v.quarantinedAt, v.streak ?? null, id);
        },
        streak: async (id) => (engine.db.prepare('SELECT streak FROM devices WHERE id = ?').get(id) as { streak: number }).streak,
      },
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
