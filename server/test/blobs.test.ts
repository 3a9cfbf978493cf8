/** PUT and HEAD /api/blobs/:sha256 on a real hub: content addressing, hash checks, limits, quotas, privacy, and jobs naming blobs. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { limits } from '@edgeswarm/shared';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { ManualClock } from '../src/clock.ts';
import { hashToken, newSubmitterToken } from '../src/auth/principal.ts';

let hub: TestHub;
beforeEach(async () => {
  hub = await startTestHub();
});
afterEach(async () => {
  await hub.close();
});

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function put(hex: string, body: Uint8Array | ReadableStream<Uint8Array>, token = hub.token, headers: Record<string, string> = {}) {
  return fetch(`${hub.url}/api/blobs/${hex}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream', ...headers },
    body,
    duplex: 'half',
  } as RequestInit);
}
const head = (hex: string, token = hub.token) =>
  fetch(`${hub.url}/api/blobs/${hex}`, { method: 'HEAD', headers: { Authorization: `Bearer ${token}` } });

function submitter(name: string, maxBlobBytes = 1024 * 1024): string {
  const token = newSubmitterToken();
  hub.store.createSubmitter(name, hashToken(token), { maxRunning: 5, maxInputs: 1000, perMinute: 100, maxBlobBytes }, Date.now());
  return token;
}

describe('blobs over HTTP', () => {
  it('stores bytes under their SHA-256 (201), says so again (200), answers HEAD with their size and GET with them', async () => {
    const bytes = randomBytes(3 * limits.BLOB_CHUNK_BYTES + 17);
    const hex = sha(bytes);
    expect((await head(hex)).status).toBe(404);
    const first = await put(hex, bytes);
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ blob: `sha256:${hex}`, size: bytes.length });
    const again = await put(hex, bytes);
    expect(again.status).toBe(200);
    const found = await head(hex);
    expect(found.status).toBe(200);
    expect(found.headers.get('content-length')).toBe(String(bytes.length));
    // Stored as 1 MiB chunks, exactly the bytes sent.
    const chunks = [0, 1, 2, 3].map((i) => hub.store.readBlobChunk(hex, i));
    expect(chunks.map((c) => c?.length)).toEqual([limits.BLOB_CHUNK_BYTES, limits.BLOB_CHUNK_BYTES, limits.BLOB_CHUNK_BYTES, 17]);
    expect(Buffer.concat(chunks.map((c) => c ?? new Uint8Array())).equals(bytes)).toBe(true);
    // GET gives the bytes back.
    const back = await fetch(`${hub.url}/api/blobs/${hex}`, { headers: { Authorization: `Bearer ${hub.token}` } });
    expect(Buffer.from(await back.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('refuses bytes that do not hash to the name with 400 hash_mismatch, and keeps nothing', async () => {
    const bytes = randomBytes(1000);
    const wrong = sha(randomBytes(10));
    const res = await put(wrong, bytes);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('hash_mismatch');
    expect(body.error.message).toContain(`hash to sha256:${sha(bytes)}, not to the blob's name sha256:${wrong}`);
    expect((await head(wrong)).status).toBe(404);
    expect(hub.store.db.prepare('SELECT count(*) AS n FROM blob_chunks').get()).toEqual({ n: 0 });
  });

  it('names the problem of a bad name, a missing token and a blob past 64 MiB', async () => {
    const bad = await put('ABC', new Uint8Array(1));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/64 lowercase hex digits of its SHA-256/);
    expect((await put(sha(new Uint8Array(1)), new Uint8Array(1), 'wrong-token')).status).toBe(401);
    // A declared length past the limit is refused before any byte is read (none is even sent here)...
    const declared = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${hub.url}/api/blobs/${'0'.repeat(64)}`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${hub.token}`, 'Content-Length': String(limits.MAX_BLOB_BYTES + 1) },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(declared.status).toBe(413);
    expect(declared.body).toContain('a blob may be at most 67108864 bytes');
    // ...and a streamed body is cut off once it passes it.
    const huge = new ReadableStream<Uint8Array>({
      start(controller) {
        const piece = new Uint8Array(limits.BLOB_CHUNK_BYTES);
        for (let i = 0; i <= 64; i++) controller.enqueue(piece);
        controller.close();
      },
    });
    const res = await put('0'.repeat(64), huge);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('a blob may be at most 67108864 bytes (64 MiB)');
    expect(hub.store.db.prepare('SELECT count(*) AS n FROM blobs').get()).toEqual({ n: 0 });
  });

  it("keeps a submitter's blobs private: another token gets 404 until it uploads the same bytes itself", async () => {
    const alice = submitter('alice');
    const bob = submitter('bob');
    const bytes = randomBytes(500);
    const hex = sha(bytes);
    expect((await put(hex, bytes, alice)).status).toBe(201);
    expect((await head(hex, alice)).status).toBe(200);
    expect((await head(hex, bob)).status).toBe(404);
    expect((await head(hex)).status).toBe(200); // the admin sees every blob
    // Bob cannot name it in a job either, and the message carries the reference.
    const job = await fetch(`${hub.url}/api/jobs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bob}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: '(x, ctx) => x', inputs: [1], shared: { data: `sha256:${hex}` } }),
    });
    expect(job.status).toBe(400);
    const error = ((await job.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('invalid_job');
    expect(error.message).toContain(`shared.data: the hub has no blob sha256:${hex}`);
    // Sending the bytes gives Bob his own claim (stored once), answered as a new blob: whether Alice had them is not told.
    expect((await put(hex, bytes, bob)).status).toBe(201);
    expect((await put(hex, bytes, bob)).status).toBe(200);
    expect((await head(hex, bob)).status).toBe(200);
    expect(hub.store.db.prepare('SELECT count(*) AS n FROM blobs').get()).toEqual({ n: 1 });
  });

  it("refuses a blob past its token's quota with 413, naming the quota", async () => {
    const small = submitter('small', 1000);
    const first = randomBytes(600);
    expect((await put(sha(first), first, small)).status).toBe(201);
    const second = randomBytes(600);
    const res = await put(sha(second), second, small);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/may keep at most 1000 bytes of blobs; it keeps 600/);
    expect((await head(sha(second), small)).status).toBe(404);
    // The same blob again costs nothing more.
    expect((await put(sha(first), first, small)).status).toBe(200);
  });

  it("counts uploads under way in the token's quota, so parallel uploads cannot pass it together", async () => {
    const small = submitter('parallel', 1000);
    const first = randomBytes(600);
    let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
    const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
    const pending = put(sha(first), stream, small);
    controller!.enqueue(first);
    // The hub has read the first upload's bytes (still open) when the second one arrives.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = randomBytes(600);
    const refused = await put(sha(second), second, small);
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/it keeps 600 and this blob is 600 more/);
    controller!.close();
    expect((await pending).status).toBe(201);
  });

  it('creates a job that names a bundle and shared files, and shows their sizes', async () => {
    const bundle = new TextEncoder().encode('"use strict";\nmodule.exports = { default: (x, ctx) => x + ctx.shared.k };\n');
    const table = new TextEncoder().encode('{"k": 1}');
    await put(sha(bundle), bundle);
    await put(sha(table), table);
    const created = await hub.api<{ bundle: unknown; shared: unknown }>('POST', '/api/jobs', {
      bundle: `sha256:${sha(bundle)}`,
      inputs: [1, 2],
      shared: { k: { blob: `sha256:${sha(table)}`, as: 'json' } },
    });
    expect(created.status).toBe(201);
    expect(created.body.bundle).toEqual({ blob: `sha256:${sha(bundle)}`, size: bundle.length });
    expect(created.body.shared).toEqual([{ name: 'k', blob: `sha256:${sha(table)}`, as: 'json', size: table.length }]);
    const missing = await hub.api<{ error: { message: string } }>('POST', '/api/jobs', { bundle: `sha256:${'ab'.repeat(32)}`, inputs: [1] });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain(`sha256:${'ab'.repeat(32)}`);
  });

  it('removes a blob once no job refers to it and an hour has passed since it was last used, freeing its quota', async () => {
    const clock = new ManualClock(Date.now());
    const other = await startTestHub({ clock });
    try {
      const token = newSubmitterToken();
      other.store.createSubmitter('gc', hashToken(token), { maxRunning: 5, maxInputs: 1000, perMinute: 100, maxBlobBytes: 1000 }, clock.now());
      const bytes = randomBytes(800);
      const hex = sha(bytes);
      const send = (path: string, init: RequestInit) => fetch(other.url + path, { ...init, headers: { Authorization: `Bearer ${token}`, ...init.headers } });
      expect((await send(`/api/blobs/${hex}`, { method: 'PUT', body: bytes })).status).toBe(201);
      const job = (await (
        await send('/api/jobs', { method: 'POST', body: JSON.stringify({ code: '(x, ctx) => x', inputs: [1], shared: { d: `sha256:${hex}` } }) })
      ).json()) as { id: string };
      // A day later (the store's own tests check that a job keeps its blobs however old their claims are).
      clock.advance(24 * 3_600_000);
      expect((await send(`/api/jobs/${job.id}`, { method: 'DELETE' })).status).toBe(204);
      // Deleting the job starts a purge: the claim was last touched a day ago, so it goes, and the bytes with it.
      await waitFor(() => ((other.store.db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n === 0 ? true : undefined));
      expect((await send(`/api/blobs/${hex}`, { method: 'HEAD' })).status).toBe(404);
      expect(other.store.claimedBlobBytes('gc')).toBe(0);
      // Its quota is free again.
      const next = randomBytes(900);
      expect((await send(`/api/blobs/${sha(next)}`, { method: 'PUT', body: next })).status).toBe(201);
    } finally {
      await other.close();
    }
  });
});
