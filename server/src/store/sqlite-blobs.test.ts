/** Blobs in the SQLite store against a real file: chunked bytes, owners' claims and quotas, jobs that keep them, and removal. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobSpec, type JobSpec } from '@edgeswarm/shared';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { BlobQuotaError, MissingBlobError } from './job-store.ts';

let dir: string;
let store: SqliteJobStore;
const NOW = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const rows = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

/** Stores `bytes` in chunks of `chunk` bytes for `owner`, as the HTTP route does (which aborts the upload when finishing fails). */
function upload(bytes: Uint8Array, owner: string | null, quota: number | null = null, chunk = 4, at = NOW) {
  const handle = store.beginBlob(at);
  for (let i = 0; i * chunk < bytes.length; i++) store.appendBlobChunk(handle, i, bytes.subarray(i * chunk, (i + 1) * chunk));
  try {
    return store.finishBlob(handle, sha(bytes), owner, at, quota);
  } catch (err) {
    store.abortBlob(handle);
    throw err;
  }
}

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

const bundleBytes = new TextEncoder().encode('module.exports = { default: (x) => x };');
const tableBytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-blobs-'));
  store = new SqliteJobStore(join(dir, 'edgeswarm.db'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('blobs in the SQLite store', () => {
  it('keeps the bytes in chunks and gives each back by index', () => {
    expect(upload(tableBytes, 'alice')).toEqual({ created: true, size: 10 });
    const hex = sha(tableBytes);
    expect([0, 1, 2].map((i) => [...(store.readBlobChunk(hex, i) ?? [])])).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10],
    ]);
    expect(store.readBlobChunk(hex, 3)).toBeNull();
    expect(store.readBlobChunk('00'.repeat(32), 0)).toBeNull();
    // Chunks are written without a sync of their own; everything else still commits with synchronous=FULL.
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('shows a submitter only the blobs it uploaded, and the admin every blob', () => {
    upload(tableBytes, 'alice');
    const hex = sha(tableBytes);
    expect(store.blobSize(hex, 'alice', NOW)).toBe(10);
    expect(store.blobSize(hex, 'bob', NOW)).toBeNull();
    expect(store.blobSize(hex, null, NOW)).toBe(10);
    expect(store.blobSize('00'.repeat(32), null, NOW)).toBeNull();
  });

  it('stores the same bytes once when two owners upload them, and claims them for both', () => {
    upload(tableBytes, 'alice');
    expect(upload(tableBytes, 'bob')).toEqual({ created: false, size: 10 });
    expect(rows('blobs')).toBe(1);
    expect(rows('blob_chunks')).toBe(3);
    expect(store.blobSize(sha(tableBytes), 'bob', NOW)).toBe(10);
    expect(store.claimBlob(sha(tableBytes), 'carol', NOW, null)).toEqual({ created: false, size: 10 });
    expect(store.claimBlob('00'.repeat(32), 'carol', NOW, null)).toBeNull();
  });

  it('refuses a claim past the owner quota (the upload is then aborted), counting a blob it already has once', () => {
    upload(tableBytes, 'alice', 16);
    expect(store.claimedBlobBytes('alice')).toBe(10);
    expect(() => upload(bundleBytes, 'alice', 16)).toThrow(BlobQuotaError);
    expect(store.blobSize(sha(bundleBytes), 'alice', NOW)).toBeNull();
    expect(rows('blobs')).toBe(1);
    expect(rows('blob_chunks')).toBe(3);
    // The same blob again is no more bytes.
    expect(upload(tableBytes, 'alice', 10)).toEqual({ created: false, size: 10 });
    expect(store.claimedBlobBytes('alice')).toBe(10);
    expect(() => store.claimBlob(sha(tableBytes), 'bob', NOW, 9)).toThrow(/at most 9 bytes of blobs; it keeps 0 and this blob is 10 more/);
  });

  it('refuses a job that names a blob its submitter does not have, naming the field and the reference', () => {
    upload(tableBytes, 'alice');
    const hex = sha(tableBytes);
    const job = spec({ code: '(x) => x', inputs: [1], shared: { table: `sha256:${hex}` } });
    let caught: unknown;
    try {
      store.createJob(job, NOW, 'bob');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MissingBlobError);
    expect((caught as Error).message).toContain(`shared.table: the hub has no blob sha256:${hex}`);
    expect(rows('jobs')).toBe(0);
    expect(store.createJob(job, NOW, 'alice').shared).toEqual([{ name: 'table', blob: `sha256:${hex}`, as: 'bytes', size: 10 }]);
    expect(() => store.createJob(spec({ bundle: `sha256:${'ab'.repeat(32)}`, inputs: [1] }), NOW, null)).toThrow(/^bundle: the hub has no blob/);
  });

  it('shows the bundle and shared files on the job and hands them out with every lease', () => {
    upload(bundleBytes, null);
    upload(tableBytes, null);
    const created = store.createJob(
      spec({ bundle: `sha256:${sha(bundleBytes)}`, inputs: [1, 2], shared: { t: { blob: `sha256:${sha(tableBytes)}`, as: 'json' } } }),
      NOW,
    );
    expect(created.bundle).toEqual({ blob: `sha256:${sha(bundleBytes)}`, size: bundleBytes.length });
    expect(store.getJob(created.id)?.shared).toEqual([{ name: 't', blob: `sha256:${sha(tableBytes)}`, as: 'json', size: 10 }]);
    const lease = store.leaseWork({ deviceId: 'dev', connId: 'c1', max: 2, deadline: NOW + 1000, now: NOW });
    expect(lease?.code).toBe('');
    expect(lease?.bundle).toEqual({ blob: sha(bundleBytes), size: bundleBytes.length });
    expect(lease?.shared).toEqual([{ name: 't', blob: sha(tableBytes), as: 'json', size: 10 }]);
  });

  it('lets a connection read a blob only while it holds an open lease of a job that refers to it', () => {
    upload(tableBytes, null);
    upload(bundleBytes, null);
    const hex = sha(tableBytes);
    const job = store.createJob(spec({ code: '(x) => x', inputs: [1], shared: { t: `sha256:${hex}` } }), NOW);
    store.createJob(spec({ code: '(x) => x', inputs: [1, 2, 3] }), NOW);
    expect(store.leasedBlobSize('c1', hex)).toBeNull();
    const lease = store.leaseWork({ deviceId: 'dev', connId: 'c1', max: 1, deadline: NOW + 1000, now: NOW });
    expect(lease?.lease.jobId).toBe(job.id);
    expect(store.leasedBlobSize('c1', hex)).toBe(10);
    expect(store.leasedBlobSize('c2', hex)).toBeNull();
    // Not a blob this job refers to.
    expect(store.leasedBlobSize('c1', sha(bundleBytes))).toBeNull();
    store.releaseConnectionLeases('c1', NOW);
    expect(store.leasedBlobSize('c1', hex)).toBeNull();
  });

  it('keeps a blob while a job refers to it and removes it once no job does and its claim is old', () => {
    upload(tableBytes, 'alice');
    const hex = sha(tableBytes);
    const job = store.createJob(spec({ code: '(x) => x', inputs: [1], shared: { t: `sha256:${hex}` } }), NOW, 'alice');
    // Long after: the job still refers to it, so its owner keeps the claim and the bytes stay.
    const later = NOW + 48 * HOUR;
    expect(store.purgeBlobs(later - HOUR, later, 100)).toEqual({ claims: 0, rows: 0 });
    expect(store.blobSize(hex, 'alice', later)).toBe(10);
    expect(store.deleteJob(job.id)).toBe(true);
    // The claim was touched just now (blobSize): kept for the grace period, then dropped.
    expect(store.purgeBlobs(later - HOUR, later, 100)).toEqual({ claims: 0, rows: 0 });
    const much = later + 2 * HOUR;
    expect(store.purgeBlobs(much - HOUR, much, 2)).toEqual({ claims: 1, rows: 2 });
    expect(store.claimedBlobBytes('alice')).toBe(0);
    expect(store.purgeBlobs(much - HOUR, much, 2)).toEqual({ claims: 0, rows: 2 });
    expect(rows('blob_chunks')).toBe(0);
    expect(rows('blobs')).toBe(0);
    expect(store.purgeBlobs(much - HOUR, much, 2)).toEqual({ claims: 0, rows: 0 });
  });

  it('stores bytes sent again while their old copy is being removed, whole (the old copy loses its name first)', () => {
    upload(tableBytes, 'alice');
    const hex = sha(tableBytes);
    const later = NOW + 2 * HOUR;
    // The first step of the removal drops the claim and 1 of the 3 chunks.
    expect(store.purgeBlobs(later - HOUR, later, 1)).toEqual({ claims: 1, rows: 1 });
    expect(store.blobSize(hex, null, later)).toBeNull();
    // Sent again meanwhile: a new, whole copy.
    expect(upload(tableBytes, 'alice', null, 4, later)).toEqual({ created: true, size: 10 });
    while (store.purgeBlobs(later - HOUR, later, 1).rows > 0);
    expect([0, 1, 2].map((i) => store.readBlobChunk(hex, i)?.length)).toEqual([4, 4, 2]);
    expect(store.blobSize(hex, 'alice', later)).toBe(10);
  });

  it('keeps bytes another owner still claims when one owner lets go', () => {
    upload(tableBytes, 'alice');
    upload(tableBytes, 'bob');
    store.db.prepare(`UPDATE blob_owners SET touched_at = ? WHERE owner = 'alice'`).run(NOW - 5 * HOUR);
    expect(store.purgeBlobs(NOW - HOUR, NOW, 100)).toEqual({ claims: 1, rows: 0 });
    expect(store.blobSize(sha(tableBytes), 'bob', NOW)).toBe(10);
    expect(rows('blob_chunks')).toBe(3);
  });

  it('removes the bytes of an upload that never finished, and lets an upload be aborted', () => {
    const stale = store.beginBlob(NOW);
    store.appendBlobChunk(stale, 0, tableBytes);
    const aborted = store.beginBlob(NOW);
    store.appendBlobChunk(aborted, 0, tableBytes);
    store.abortBlob(aborted);
    expect(rows('blobs')).toBe(1);
    expect(store.purgeBlobs(NOW, NOW + 60_000, 100)).toEqual({ claims: 0, rows: 0 });
    expect(store.purgeBlobs(NOW, NOW + 2 * HOUR, 100)).toEqual({ claims: 0, rows: 2 });
    expect(rows('blobs')).toBe(0);
    expect(() => store.appendBlobChunk(stale, 1, tableBytes)).toThrow(/no blob upload/);
  });

  it('purges the references of a deleted job with its other rows', () => {
    upload(tableBytes, null);
    const job = store.createJob(spec({ code: '(x) => x', inputs: [1], shared: { t: `sha256:${sha(tableBytes)}` } }), NOW);
    expect(rows('job_blobs')).toBe(1);
    store.deleteJob(job.id);
    while (store.purgeStep(1000) > 0);
    expect(rows('job_blobs')).toBe(0);
  });
});
