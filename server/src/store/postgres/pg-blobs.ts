/** The blob tables on PostgreSQL: content-addressed bytes in chunks, who claims each blob, and which jobs refer to it (as ../sqlite-blobs.ts). */
import { BlobQuotaError, type BlobPurgeOutcome, type ClaimOutcome } from '../job-store.ts';
import type { Queryable } from './pg-session.ts';

/** The admin's claims are kept under this owner name (submitter names start with a letter or digit). */
const ADMIN_OWNER = '';
/** An upload that never finished (the hub died mid-way) is removed after this long. */
const STALE_UPLOAD_MS = 3_600_000;

const ownerKey = (owner: string | null): string => owner ?? ADMIN_OWNER;

const one = async <T>(q: Queryable, sql: string, params: unknown[]): Promise<T | undefined> => (await q.query(sql, params)).rows[0] as T | undefined;

async function bySha(q: Queryable, hex: string): Promise<{ seq: number; size: number } | undefined> {
  return one(q, 'SELECT seq, size FROM blobs WHERE sha256 = $1', [hex]);
}

async function claimRow(q: Queryable, owner: string | null, hex: string, size: number, now: number): Promise<void> {
  await q.query(
    `INSERT INTO blob_owners (owner, sha256, size, touched_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (owner, sha256) DO UPDATE SET touched_at = excluded.touched_at`,
    [ownerKey(owner), hex, size, now],
  );
}

async function checkQuota(q: Queryable, owner: string | null, hex: string, size: number, quota: number | null): Promise<void> {
  if (quota === null) return;
  if (await one(q, 'SELECT 1 FROM blob_owners WHERE owner = $1 AND sha256 = $2', [ownerKey(owner), hex])) return;
  const used = (await one<{ n: number }>(q, 'SELECT coalesce(sum(size), 0)::bigint AS n FROM blob_owners WHERE owner = $1', [ownerKey(owner)]))?.n ?? 0;
  if (used + size > quota) throw new BlobQuotaError(quota, used, size);
}

export async function beginBlob(q: Queryable, now: number): Promise<number> {
  return (await one<{ seq: number }>(q, 'INSERT INTO blobs (sha256, size, created_at) VALUES (NULL, 0, $1) RETURNING seq', [now]))?.seq ?? 0;
}

export async function appendBlobChunk(q: Queryable, upload: number, index: number, bytes: Uint8Array): Promise<void> {
  const grown = await q.query('UPDATE blobs SET size = size + $1 WHERE seq = $2 AND sha256 IS NULL', [bytes.length, upload]);
  if (grown.rowCount === 0) throw new Error(`no blob upload ${upload} in progress`);
  await q.query('INSERT INTO blob_chunks (blob_seq, chunk, data) VALUES ($1, $2, $3)', [upload, index, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
}

export async function abortBlob(q: Queryable, upload: number): Promise<void> {
  await q.query('DELETE FROM blob_chunks WHERE blob_seq = $1', [upload]);
  await q.query('DELETE FROM blobs WHERE seq = $1', [upload]);
}

/** As SyncJobStore.finishBlob; call in a transaction. */
export async function finishBlob(q: Queryable, upload: number, hex: string, owner: string | null, now: number, quota: number | null): Promise<ClaimOutcome> {
  const row = await one<{ size: number }>(q, 'SELECT size FROM blobs WHERE seq = $1 AND sha256 IS NULL FOR UPDATE', [upload]);
  if (!row) throw new Error(`no blob upload ${upload} in progress`);
  const existing = await bySha(q, hex);
  if (existing) {
    await abortBlob(q, upload);
    await checkQuota(q, owner, hex, existing.size, quota);
    await claimRow(q, owner, hex, existing.size, now);
    return { created: false, size: existing.size };
  }
  await checkQuota(q, owner, hex, row.size, quota);
  await q.query('UPDATE blobs SET sha256 = $1 WHERE seq = $2', [hex, upload]);
  await claimRow(q, owner, hex, row.size, now);
  return { created: true, size: row.size };
}

export async function claimBlob(q: Queryable, hex: string, owner: string | null, now: number, quota: number | null): Promise<ClaimOutcome | null> {
  const blob = await bySha(q, hex);
  if (!blob) return null;
  await checkQuota(q, owner, hex, blob.size, quota);
  await claimRow(q, owner, hex, blob.size, now);
  return { created: false, size: blob.size };
}

export async function blobStored(q: Queryable, hex: string): Promise<number | null> {
  return (await bySha(q, hex))?.size ?? null;
}

/** As SyncJobStore.blobSize: the admin may use any stored blob (and asking claims it); a submitter its own claims. */
export async function blobSize(q: Queryable, hex: string, owner: string | null, now: number): Promise<number | null> {
  if (owner === null) {
    const blob = await bySha(q, hex);
    if (!blob) return null;
    await claimRow(q, null, hex, blob.size, now);
    return blob.size;
  }
  const claim = await one<{ size: number }>(q, 'SELECT size FROM blob_owners WHERE owner = $1 AND sha256 = $2', [owner, hex]);
  if (!claim || !(await bySha(q, hex))) return null;
  await q.query('UPDATE blob_owners SET touched_at = $1 WHERE owner = $2 AND sha256 = $3', [now, owner, hex]);
  return claim.size;
}

export async function claimedBlobBytes(q: Queryable, owner: string | null): Promise<number> {
  return (await one<{ n: number }>(q, 'SELECT coalesce(sum(size), 0)::bigint AS n FROM blob_owners WHERE owner = $1', [ownerKey(owner)]))?.n ?? 0;
}

/** A job refers to the blob (it keeps its owner's claim while the job is not deleted). Call in a transaction. */
export async function referBlob(q: Queryable, jobSeq: number, hex: string, owner: string | null, now: number): Promise<void> {
  await q.query('INSERT INTO job_blobs (job_seq, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING', [jobSeq, hex]);
  await q.query('UPDATE blob_owners SET touched_at = $1 WHERE owner = $2 AND sha256 = $3', [now, ownerKey(owner), hex]);
}

export async function readBlobChunk(q: Queryable, hex: string, index: number): Promise<Uint8Array | null> {
  const row = await one<{ data: Buffer }>(
    q,
    'SELECT c.data FROM blob_chunks c JOIN blobs b ON b.seq = c.blob_seq WHERE b.sha256 = $1 AND c.chunk = $2',
    [hex, index],
  );
  return row?.data ?? null;
}

export async function leasedBlobSize(q: Queryable, connId: string, hex: string): Promise<number | null> {
  const row = await one<{ size: number }>(
    q,
    `SELECT b.size FROM blobs b WHERE b.sha256 = $1 AND EXISTS (
       SELECT 1 FROM leases l JOIN job_blobs jb ON jb.job_seq = l.job_seq
        WHERE l.conn_id = $2 AND l.open AND jb.sha256 = b.sha256)`,
    [hex, connId],
  );
  return row?.size ?? null;
}

/** As SyncJobStore.purgeBlobs; call in a transaction. A blob being removed loses its name in the step that decides it. */
export async function purgeBlobs(q: Queryable, cutoff: number, now: number, maxRows: number): Promise<BlobPurgeOutcome> {
  const claims =
    (
      await q.query(
        `DELETE FROM blob_owners o WHERE touched_at < $1 AND NOT EXISTS (
           SELECT 1 FROM job_blobs jb JOIN jobs j ON j.seq = jb.job_seq
            WHERE jb.sha256 = o.sha256 AND NOT j.deleted AND coalesce(j.owner, '') = o.owner)`,
        [cutoff],
      )
    ).rowCount ?? 0;
  const orphan = await one<{ seq: number }>(
    q,
    `SELECT b.seq FROM blobs b WHERE b.sha256 IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM blob_owners o WHERE o.sha256 = b.sha256)
       AND NOT EXISTS (SELECT 1 FROM job_blobs jb JOIN jobs j ON j.seq = jb.job_seq WHERE jb.sha256 = b.sha256 AND NOT j.deleted)
     LIMIT 1 FOR UPDATE OF b SKIP LOCKED`,
    [],
  );
  if (orphan) await q.query('UPDATE blobs SET sha256 = NULL, created_at = 0 WHERE seq = $1', [orphan.seq]);
  const victim = orphan ?? (await one<{ seq: number }>(q, 'SELECT seq FROM blobs WHERE sha256 IS NULL AND created_at < $1 LIMIT 1 FOR UPDATE SKIP LOCKED', [now - STALE_UPLOAD_MS]));
  if (!victim) return { claims, rows: 0 };
  const rows =
    (
      await q.query(
        'DELETE FROM blob_chunks WHERE blob_seq = $1 AND chunk IN (SELECT chunk FROM blob_chunks WHERE blob_seq = $1 LIMIT $2)',
        [victim.seq, maxRows],
      )
    ).rowCount ?? 0;
  if (rows < maxRows) {
    await q.query('DELETE FROM blobs WHERE seq = $1', [victim.seq]);
    return { claims, rows: rows + 1 };
  }
  return { claims, rows };
}
