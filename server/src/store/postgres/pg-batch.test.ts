/** Group commit on a real PostgreSQL: calls of one turn share one transaction, settle after its commit, and a failing call does not sink the others. */
import { describe, expect, it } from 'vitest';
import { postgresForFile } from '../../../test/support/postgres-server.ts';
import { PgSession } from './pg-session.ts';
import { PgBatcher } from './pg-batch.ts';

const postgres = postgresForFile();

async function setup() {
  const session = new PgSession(await postgres.fresh(), { max: 4 });
  await session.query('CREATE TABLE t (v INTEGER PRIMARY KEY)');
  const commits: number[] = [];
  const batcher = new PgBatcher(session);
  batcher.observe((_seconds, calls) => commits.push(calls));
  const rows = async () => (await session.query<{ v: number }>('SELECT v FROM t ORDER BY v')).rows.map((r) => r.v);
  return { session, batcher, commits, rows };
}

describe('PgBatcher', () => {
  it('commits the calls made in one turn together, once, and settles each with its own value', async () => {
    const { session, batcher, commits, rows } = await setup();
    const values = await Promise.all([1, 2, 3, 4, 5].map((v) => batcher.run(async (q) => (await q.query('INSERT INTO t (v) VALUES ($1)', [v])).rowCount)));
    expect(values).toEqual([1, 1, 1, 1, 1]);
    expect(commits).toEqual([5]);
    expect(await rows()).toEqual([1, 2, 3, 4, 5]);
    await session.close();
  });

  it('rejects only the call that failed: the others of its batch still commit', async () => {
    const { session, batcher, rows } = await setup();
    const outcomes = await Promise.allSettled([
      batcher.run((q) => q.query('INSERT INTO t (v) VALUES (1)')),
      batcher.run((q) => q.query('INSERT INTO t (v) VALUES (1 / 0)')),
      batcher.run((q) => q.query('INSERT INTO t (v) VALUES (3)')),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/division by zero/);
    expect(await rows()).toEqual([1, 3]);
    await session.close();
  });

  it('forms the next batch from the calls made while one commits', async () => {
    const { session, batcher, commits, rows } = await setup();
    const first = batcher.run((q) => q.query('INSERT INTO t (v) VALUES (1)'));
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is under way
    const later = [2, 3, 4].map((v) => batcher.run((q) => q.query('INSERT INTO t (v) VALUES ($1)', [v])));
    await Promise.all([first, ...later]);
    expect(commits).toEqual([1, 3]);
    expect(await rows()).toEqual([1, 2, 3, 4]);
    await session.close();
  });
});
