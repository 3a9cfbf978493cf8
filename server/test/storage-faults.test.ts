/** When SQLite cannot write (disk full, locked), the hub acknowledges nothing, answers 503/unavailable, stays up and recovers. */
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Job } from '@edgeswarm/shared';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { TestDevice } from './support/test-device.ts';

let hub: TestHub;
afterEach(async () => {
  await hub?.close();
});
type ErrorBody = { error: { code: string; message: string } };

/** Caps the database at its current size, as a full disk would. */
function fillDisk(h: TestHub): () => void {
  const pages = h.store.db.pragma('page_count', { simple: true }) as number;
  h.store.db.pragma(`max_page_count = ${pages}`);
  return () => void h.store.db.pragma('max_page_count = 1073741823');
}

describe('storage faults', () => {
  it('answers 503 unavailable to a submission when the disk is full, stores nothing, and accepts it once space is back', async () => {
    hub = await startTestHub();
    const jobs = () => hub.api<{ total: number }>('GET', '/api/jobs').then((r) => r.body.total);
    const spec = { code: '(n) => n', inputs: Array.from({ length: 20_000 }, (_, i) => `input number ${i}`) };
    const freeSpace = fillDisk(hub);
    const refused = await hub.api<ErrorBody>('POST', '/api/jobs', spec);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('unavailable');
    expect(await jobs()).toBe(0);
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
    freeSpace();
    const accepted = await hub.api<Job>('POST', '/api/jobs', spec);
    expect(accepted.status).toBe(201);
    expect(await jobs()).toBe(1);
    expect(hub.store.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('answers 503 while another process holds the database locked', async () => {
    hub = await startTestHub();
    hub.store.db.pragma('busy_timeout = 50');
    const other = new Database(join(hub.dataDir, 'edgeswarm.db'));
    try {
      other.exec('BEGIN EXCLUSIVE');
      const refused = await hub.api<ErrorBody>('POST', '/api/jobs', { code: '(n) => n', inputs: [1] });
      expect(refused.status).toBe(503);
      other.exec('ROLLBACK');
      expect((await hub.api('POST', '/api/jobs', { code: '(n) => n', inputs: [1] })).status).toBe(201);
    } finally {
      other.close();
    }
  });

  it('does not acknowledge results it could not store; the device sends them again and they count once', async () => {
    hub = await startTestHub();
    const d = new TestDevice(hub.url, { autoWork: false });
    try {
      await d.connected();
      const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n', inputs: ['a'.repeat(1000)] });
      const grant = (await d.request(1))!;
      const results = grant.items.map((it) => ({ index: it.index, ok: true as const, json: JSON.stringify(`${String(it.input)}${'!'.repeat(200_000)}`) }));
      const freeSpace = fillDisk(hub);
      const refused = await d.submit(grant.leaseId, results);
      expect(refused).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      expect((await hub.api<Job>('GET', `/api/jobs/${job.id}`)).body.progress.completed).toBe(0);
      freeSpace();
      expect(await d.submit(grant.leaseId, results)).toEqual({ ok: true, data: { accepted: 1, dropped: 0 } });
      expect((await hub.api<Job>('GET', `/api/jobs/${job.id}`)).body).toMatchObject({ status: 'completed', progress: { completed: 1 } });
    } finally {
      d.close();
    }
  });
});
