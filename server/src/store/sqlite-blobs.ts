/** The blob tables of the SQLite store: content-addressed bytes in chunks, who claims each blob, and which jobs refer to it. */
import type Database from 'better-sqlite3';
import { BlobQuotaError, type BlobPurgeOutcome, type ClaimOutcome } from './job-store.ts';

/** The admin's claims are kept under this owner name (submitter names start with a letter or digit). */
export const ADMIN_OWNER = '';
/** An upload that never finished (the hub died mid-way) is removed after this long. */
const STALE_UPLOAD_MS = 3_600_000;

const ownerKey = (owner: string | null): string => owner ?? ADMIN_OWNER;

export class BlobTable {
  private readonly q;

  constructor(private readonly db: Database.Database) {
    // A job holds a claim while it is not deleted; its owner is `coalesce(owner, '')`.
    const referenced = `EXISTS (SELECT 1 FROM job_blobs jb JOIN jobs j ON j.seq = jb.job_seq
        WHERE jb.sha256 = o.sha256 AND j.deleted = 0 AND coalesce(j.owner, '') = o.owner)`;
    this.q = {
      begin: db.prepare<[number]>('INSERT INTO blobs (sha256, size, created_at) VALUES (NULL, 0, ?)'),
      append: db.prepare<[number, number, Uint8Array]>('INSERT INTO blob_chunks (blob_seq, chunk, data) VALUES (?, ?, ?)'),
      grow: db.prepare<[number, number]>('UPDATE blobs SET size = size + ? WHERE seq = ? AND sha256 IS NULL'),
      upload: db.prepare<[number], { size: number }>('SELECT size FROM blobs WHERE seq = ? AND sha256 IS NULL'),
      name: db.prepare<[string, number]>('UPDATE blobs SET sha256 = ? WHERE seq = ?'),
      dropChunks: db.prepare<[number]>('DELETE FROM blob_chunks WHERE blob_seq = ?'),
      dropBlob: db.prepare<[number]>('DELETE FROM blobs WHERE seq = ?'),
      bySha: db.prepare<[string], { seq: number; size: number }>('SELECT seq, size FROM blobs WHERE sha256 = ?'),
      claim: db.prepare<[string, string, number, number]>(
        `INSERT INTO blob_owners (owner, sha256, size, touched_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (owner, sha256) DO UPDATE SET touched_at = excluded.touched_at`,
      ),
      claimOf: db.prepare<[string, string], { size: number }>('SELECT size FROM blob_owners WHERE owner = ? AND sha256 = ?'),
      touch: db.prepare<[number, string, string]>('UPDATE blob_owners SET touched_at = ? WHERE owner = ? AND sha256 = ?'),
      claimed: db.prepare<[string], { n: number }>('SELECT coalesce(sum(size), 0) AS n FROM blob_owners WHERE owner = ?'),
      chunk: db.prepare<[string, number], { data: Buffer }>(
        'SELECT c.data FROM blob_chunks c JOIN blobs b ON b.seq = c.blob_seq WHERE b.sha256 = ? AND c.chunk = ?',
      ),
      refer: db.prepare<[number, string]>('INSERT OR IGNORE INTO job_blobs (job_seq, sha256) VALUES (?, ?)'),
      leasedTo: db.prepare<[string, string], { size: number }>(
        `SELECT b.size FROM blobs b WHERE b.sha256 = ? AND EXISTS (
           SELECT 1 FROM leases l JOIN job_blobs jb ON jb.job_seq = l.job_seq
            WHERE l.conn_id = ? AND l.open = 1 AND jb.sha256 = b.sha256)`,
      ),
      expireClaims: db.prepare<[number]>(`DELETE FROM blob_owners AS o WHERE touched_at < ? AND NOT ${referenced}`),
      orphan: db.prepare<[], { seq: number }>(
        `SELECT b.seq FROM blobs b WHERE b.sha256 IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM blob_owners o WHERE o.sha256 = b.sha256)
           AND NOT EXISTS (SELECT 1 FROM job_blobs jb JOIN jobs j ON j.seq = jb.job_seq WHERE jb.sha256 = b.sha256 AND j.deleted = 0)
         LIMIT 1`,
      ),
      staleUpload: db.prepare<[number], { seq: number }>('SELECT seq FROM blobs WHERE sha256 IS NULL AND created_at < ? LIMIT 1'),
      // A blob being removed loses its name first, in the step that decides it goes: from then on it is an
      // unfinished upload to nobody, and the same bytes sent again are stored anew.
      unname: db.prepare<[number]>('UPDATE blobs SET sha256 = NULL, created_at = 0 WHERE seq = ?'),
      dropSomeChunks: db.prepare<[number, number, number]>(
        'DELETE FROM blob_chunks WHERE blob_seq = ? AND chunk IN (SELECT chunk FROM blob_chunks WHERE blob_seq = ? LIMIT ?)',
      ),
    };
  }

  begin(now: number): number {
    return Number(this.q.begin.run(now).lastInsertRowid);
  }

  append(upload: number, index: number, bytes: Uint8Array): void {
    if (!this.q.upload.get(upload)) throw new Error(`no blob upload ${upload} in progress`);
    this.q.append.run(upload, index, bytes);
    this.q.grow.run(bytes.length, upload);
  }

  /**
   * Names the bytes of an upload `hex` and claims the blob for `owner`, within `quota` bytes of
   * claims. When the same bytes are already stored (another upload finished first) the upload's
   * copy is dropped. Call in a transaction.
   */
  finish(upload: number, hex: string, owner: string | null, now: number, quota: number | null): ClaimOutcome {
    const row = this.q.upload.get(upload);
    if (!row) throw new Error(`no blob upload ${upload} in progress`);
    const existing = this.q.bySha.get(hex);
    if (existing) {
      this.abort(upload);
      this.checkQuota(owner, hex, existing.size, quota);
      this.q.claim.run(ownerKey(owner), hex, existing.size, now);
      return { created: false, size: existing.size };
    }
    this.checkQuota(owner, hex, row.size, quota);
    this.q.name.run(hex, upload);
    this.q.claim.run(ownerKey(owner), hex, row.size, now);
    return { created: true, size: row.size };
  }

  abort(upload: number): void {
    this.q.dropChunks.run(upload);
    this.q.dropBlob.run(upload);
  }

  /** Claims a stored blob for `owner` (whose bytes the caller has seen hash to `hex`); null when it is not stored. */
  claim(hex: string, owner: string | null, now: number, quota: number | null): ClaimOutcome | null {
    const blob = this.q.bySha.get(hex);
    if (!blob) return null;
    this.checkQuota(owner, hex, blob.size, quota);
    this.q.claim.run(ownerKey(owner), hex, blob.size, now);
    return { created: false, size: blob.size };
  }

  private checkQuota(owner: string | null, hex: string, size: number, quota: number | null): void {
    if (quota === null || this.q.claimOf.get(ownerKey(owner), hex)) return;
    const used = this.q.claimed.get(ownerKey(owner))?.n ?? 0;
    if (used + size > quota) throw new BlobQuotaError(quota, used, size);
  }

  /** Bytes of a stored blob: any blob for the admin (null owner), only its own claims for a submitter. Touches the claim. */
  size(hex: string, owner: string | null, now: number): number | null {
    if (owner === null) {
      const blob = this.q.bySha.get(hex);
      if (!blob) return null;
      // The admin may use any stored blob: asking claims it (no quota), so it is not removed under a job about to name it.
      this.q.claim.run(ADMIN_OWNER, hex, blob.size, now);
      return blob.size;
    }
    const claim = this.q.claimOf.get(owner, hex);
    if (!claim || !this.q.bySha.get(hex)) return null;
    this.q.touch.run(now, owner, hex);
    return claim.size;
  }

  stored(hex: string): number | null {
    return this.q.bySha.get(hex)?.size ?? null;
  }

  claimedBytes(owner: string | null): number {
    return this.q.claimed.get(ownerKey(owner))?.n ?? 0;
  }

  /** A job refers to the blob (it keeps its owner's claim while the job is not deleted). Call in a transaction. */
  refer(jobSeq: number, hex: string, owner: string | null, now: number): void {
    this.q.refer.run(jobSeq, hex);
    this.q.touch.run(now, ownerKey(owner), hex);
  }

  readChunk(hex: string, index: number): Uint8Array | null {
    return this.q.chunk.get(hex, index)?.data ?? null;
  }

  /** The blob's size when the connection holds an open lease of a job that refers to it; else null. */
  leasedSize(connId: string, hex: string): number | null {
    return this.q.leasedTo.get(hex, connId)?.size ?? null;
  }

  /**
   * Drops claims untouched since `cutoff` that no live job of their owner refers to, then the bytes
   * of one blob nobody claims or refers to (or of one stale upload), at most `maxRows` chunks.
   */
  purge(cutoff: number, now: number, maxRows: number): BlobPurgeOutcome {
    const claims = this.q.expireClaims.run(cutoff).changes;
    const orphan = this.q.orphan.get();
    if (orphan) this.q.unname.run(orphan.seq);
    const victim = orphan ?? this.q.staleUpload.get(now - STALE_UPLOAD_MS);
    if (!victim) return { claims, rows: 0 };
    const rows = this.q.dropSomeChunks.run(victim.seq, victim.seq, maxRows).changes;
    if (rows < maxRows) {
      this.q.dropBlob.run(victim.seq);
      return { claims, rows: rows + 1 };
    }
    return { claims, rows };
  }
}
