/** The HTTP side of the hub: JSON API with bearer auth and contract errors, health check, and the built web app. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { serveStatic } from '@hono/node-server/serve-static';
import { PAGE_CSP, SANDBOX_CSP, SECURITY_HEADERS, blobRef, limits, sandboxCspFor, type HubStats } from '@edgeswarm/shared';
import { HubError } from '../errors.ts';
import { tokenMatches } from '../admin-token.ts';
import type { JobService } from '../jobs/job-service.ts';
import { parseBlobName, type BlobService } from '../blobs/blob-service.ts';
import type { OriginPolicy } from './origin-policy.ts';
import { resolvePrincipal, type Principal } from '../auth/principal.ts';

/** What the auth middleware leaves for the routes. */
type Env = { Variables: { principal: Principal } };
import { StoreUnavailableError, type ResultsPage } from '../store/job-store.ts';
import type { JobStore } from '../store/async-store.ts';

/** Results read from the store at a time when streaming NDJSON: at most this many... */
const NDJSON_MAX_PAGE = 10_000;
/** ...fewer when results are large, so that a page holds about this many bytes of JSON. */
const NDJSON_PAGE_BYTES = 4 * 1024 * 1024;
/** The first page is small: the size of the results is not known yet. */
const NDJSON_FIRST_PAGE = 100;
/** Lines are handed to the socket in chunks of about this size. */
const NDJSON_CHUNK_CHARS = 64 * 1024;

/** What `GET /metrics` serves. */
export interface MetricsEndpoint {
  contentType: string;
  render(): Promise<string>;
}

export interface HttpApiOptions {
  /** Whether the hub can reach what it stores in (false: /healthz answers 503, so a load balancer takes it out). */
  healthy?: () => boolean;
  jobs: JobService;
  blobs: BlobService;
  store: JobStore;
  stats: () => Promise<HubStats>;
  /** Served at `GET /metrics` (admin token required); no route without it. */
  metrics?: MetricsEndpoint;
  adminToken: string;
  /** Browser origins admitted to the API and /metrics (requests without Origin pass). */
  origins?: OriginPolicy;
  /** Folder of the built web app (web/dist). */
  webRoot: string;
  /** The volunteer page's URLs for phones on the LAN (`GET /api/join`, admin token). */
  volunteerUrls?: () => string[];
  log: (message: string, err?: unknown) => void;
}

export function createHttpApi(options: HttpApiOptions): Hono {
  const { jobs, blobs, store } = options;
  const app = new Hono();

  app.use('*', async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
  });

  app.onError((err, c) => {
    if (err instanceof HubError) return errorResponse(c, err);
    if (err instanceof StoreUnavailableError) {
      options.log(`${c.req.method} ${c.req.path}: storage unavailable`, err);
      c.header('Retry-After', '5');
      return errorResponse(c, new HubError('unavailable', 'the hub cannot store anything right now (storage fault); nothing was saved, try again later'));
    }
    options.log(`${c.req.method} ${c.req.path} failed`, err);
    return errorResponse(c, new HubError('internal', 'the hub failed to handle this request; see its log'));
  });

  app.get('/healthz', (c) => (options.healthy?.() === false ? c.json({ ok: false, error: 'the hub cannot reach its database' }, 503) : c.json({ ok: true })));

  const bearer = (c: Context): string | undefined => /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
  // The admin token or a submitter token (checked against the store at each call: revocations count at once).
  const requireToken: MiddlewareHandler<Env> = async (c, next) => {
    const principal = await resolvePrincipal(store, options.adminToken, bearer(c));
    if (!principal) throw new HubError('unauthorized', 'the Authorization header must be "Bearer TOKEN" with a valid token');
    c.set('principal', principal);
    await next();
  };
  const requireAdmin: MiddlewareHandler = async (c, next) => {
    if (!tokenMatches(options.adminToken, bearer(c))) {
      throw new HubError('unauthorized', 'the Authorization header must be "Bearer TOKEN" with the admin token');
    }
    await next();
  };
  const checkOrigin: MiddlewareHandler = async (c, next) => {
    const origin = c.req.header('origin');
    if (options.origins && !options.origins.allows(origin)) {
      throw new HubError('origin_not_allowed', `pages of ${String(origin)} may not use this hub's API (see its --allowed-origins)`);
    }
    await next();
  };
  app.use('/api/*', checkOrigin);
  app.use('/metrics', checkOrigin);
  app.use('/api/*', requireToken);
  const { metrics } = options;
  if (metrics) {
    app.get('/metrics', requireAdmin, async (c) => {
      const text = await metrics.render();
      c.header('Cache-Control', 'no-store');
      return c.body(text, 200, { 'Content-Type': metrics.contentType });
    });
  }
  const jsonBodyLimit = bodyLimit({
    maxSize: limits.MAX_BODY_BYTES,
    onError: () => {
      throw new HubError('payload_too_large', `the request body must be at most ${limits.MAX_BODY_BYTES} bytes`);
    },
  });
  // Blobs are streamed into the store in chunks, up to MAX_BLOB_BYTES (checked by BlobService).
  app.use('/api/*', (c, next) => (c.req.path.startsWith('/api/blobs/') ? next() : jsonBodyLimit(c, next)));

  const api = app as unknown as Hono<Env>;
  api.post('/api/jobs', async (c) => {
    const job = await jobs.submit(await readJson(c), c.get('principal'));
    return c.json(job, 201);
  });
  api.get('/api/jobs', async (c) => {
    const { offset, limit } = paging(c, limits.DEFAULT_LIST_PAGE, limits.MAX_LIST_PAGE);
    const page = await jobs.list(offset, limit, c.get('principal'));
    return c.json({ total: page.total, jobs: page.items });
  });
  api.get('/api/jobs/:id', async (c) => c.json(await jobs.get(c.req.param('id'), c.get('principal'))));
  api.get('/api/jobs/:id/results', async (c) => {
    const principal = c.get('principal');
    if (acceptsNdjson(c.req.header('accept'))) {
      // Read before answering: an unknown job is a 404, a store fault a 503, as JSON errors.
      const id = c.req.param('id');
      const first = await jobs.results(id, 0, NDJSON_FIRST_PAGE, principal);
      return c.body(streamResults(store, id, first, options.log), 200, { 'Content-Type': 'application/x-ndjson' });
    }
    const { offset, limit } = paging(c, limits.DEFAULT_RESULTS_PAGE, limits.MAX_RESULTS_PAGE);
    return c.json(await jobs.results(c.req.param('id'), offset, limit, principal));
  });
  api.post('/api/jobs/:id/cancel', async (c) => c.json(await jobs.cancel(c.req.param('id'), c.get('principal'))));
  api.delete('/api/jobs/:id', async (c) => {
    await jobs.delete(c.req.param('id'), c.get('principal'));
    return c.body(null, 204);
  });
  api.put('/api/blobs/:sha256', async (c) => {
    const hex = parseBlobName(c.req.param('sha256'));
    const header = c.req.header('content-length');
    const length = header !== undefined && /^\d+$/.test(header) ? Number(header) : null;
    const outcome = await blobs.upload(hex, c.req.raw.body, length, c.get('principal'));
    return c.json({ blob: blobRef(hex), size: outcome.size }, outcome.created ? 201 : 200);
  });
  // GET streams the bytes back to a token that may use them; HEAD (answered by this route too) only says their size.
  api.get('/api/blobs/:sha256', async (c) => {
    const hex = parseBlobName(c.req.param('sha256'));
    const size = await blobs.size(hex, c.get('principal'));
    if (size === null) throw new HubError('not_found', `no blob sha256:${hex} for this token`);
    return c.body(streamBlob(store, hex, size), 200, { 'Content-Length': String(size), 'Content-Type': 'application/octet-stream' });
  });
  app.get('/api/devices', async (c) => {
    const { offset, limit } = paging(c, limits.DEFAULT_LIST_PAGE, limits.MAX_LIST_PAGE);
    const page = await store.listDevices(offset, limit);
    return c.json({ total: page.total, devices: page.items });
  });
  // Lifts a quarantine (admin): the device gets work again and must earn its record anew.
  api.delete('/api/devices/:id/quarantine', async (c) => {
    if (c.get('principal').kind !== 'admin') throw new HubError('forbidden', 'only the admin token may lift a quarantine');
    const id = c.req.param('id');
    if (!(await store.releaseQuarantine(id))) throw new HubError('not_found', `no quarantined device ${JSON.stringify(id)}`);
    return c.body(null, 204);
  });
  app.get('/api/stats', async (c) => c.json(await options.stats()));
  // Where a phone joins (the dashboard draws a QR code of each): admin only, as a private pool's URLs carry its token.
  api.get('/api/join', (c) => {
    if (c.get('principal').kind !== 'admin') throw new HubError('forbidden', 'only the admin token may read the volunteer URLs');
    return c.json({ urls: options.volunteerUrls?.() ?? [] });
  });
  app.all('/api/*', () => {
    throw new HubError('not_found', 'no such API route; see the HTTP API in the README');
  });

  mountWebApp(app, options.webRoot);
  return app;
}

function mountWebApp(app: Hono, webRoot: string): void {
  const page = (file: string) => async (c: Context) => {
    const path = join(webRoot, file);
    if (!existsSync(path)) {
      return c.text('The web app is not built. Run "npm run build" (npm start does it for you).\n', 503);
    }
    c.header('Cache-Control', 'no-cache');
    return serveStatic({ path })(c, async () => {});
  };
  const withPageCsp = (serve: (c: Context) => Promise<Response | void>) => async (c: Context) => {
    c.header('Content-Security-Policy', PAGE_CSP);
    return serve(c);
  };
  app.get('/', withPageCsp(page('index.html')));
  app.get('/dashboard', withPageCsp(page('dashboard/index.html')));
  app.get('/dashboard/', withPageCsp(page('dashboard/index.html')));
  // The job sandbox frame: its own CSP makes it an opaque origin without network (see SANDBOX_CSP).
  const sandbox = page('sandbox/index.html');
  const sandboxed = async (c: Context) => {
    const host = c.req.header('host');
    const scheme = new URL(c.req.url).protocol === 'https:' ? 'https' : 'http';
    c.header('Content-Security-Policy', host && /^[A-Za-z0-9.\-\[\]:]+$/.test(host) ? sandboxCspFor(`${scheme}://${host}`) : SANDBOX_CSP);
    return sandbox(c);
  };
  app.get('/sandbox', sandboxed);
  app.get('/sandbox/', sandboxed);
  let assets: ReturnType<typeof serveStatic> | null = null;
  app.use('/assets/*', (c, next) => {
    if (!existsSync(webRoot)) return next();
    assets ??= serveStatic({
      root: webRoot,
      onFound: (_path, ctx) => {
        ctx.header('Cache-Control', 'public, max-age=31536000, immutable');
        // The sandbox frame has an opaque origin: its module scripts are cross-origin (CORS) requests.
        ctx.header('Access-Control-Allow-Origin', '*');
      },
    });
    return assets(c, next);
  });
}

/** True when the Accept header asks for `application/x-ndjson` (and not with `q=0`). */
function acceptsNdjson(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    return type === 'application/x-ndjson' && !params.some((p) => /^q=0(\.0*)?$/.test(p));
  });
}

/**
 * Every result of a job as NDJSON, one JSON value per line in input order, `null` where there is none
 * yet. The store is read a page at a time, only when the client has taken the previous page (pull),
 * with a yield to the event loop between pages: memory stays at about one page whatever the job's
 * size, and a 10,000,000-input job does not hold up the hub. A client that goes away cancels the
 * stream and no more pages are read. If the job is deleted or the store fails midway, the response
 * is cut off (no clean end), so a client cannot take a partial answer for a whole one.
 */
function streamResults(
  store: JobStore,
  jobId: string,
  firstPage: ResultsPage,
  log: HttpApiOptions['log'],
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let offset = 0;
  let pageSize = NDJSON_FIRST_PAGE;
  let cancelled = false;
  let first: ResultsPage | null = firstPage;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (offset > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        if (cancelled) return;
        let page: ResultsPage | null;
        try {
          page = first ?? (await store.getResults(jobId, offset, pageSize));
          first = null;
        } catch (err) {
          log(`streaming the results of job ${jobId} failed at input ${offset}`, err);
          controller.error(err);
          return;
        }
        if (!page) {
          controller.error(new Error(`job ${jobId} was deleted while its results were streamed`));
          return;
        }
        let text = '';
        let chars = 0;
        for (const value of page.results) {
          text += `${JSON.stringify(value)}\n`;
          if (text.length >= NDJSON_CHUNK_CHARS) {
            controller.enqueue(encoder.encode(text));
            chars += text.length;
            text = '';
          }
        }
        if (text !== '') controller.enqueue(encoder.encode(text));
        chars += text.length;
        offset += page.results.length;
        if (offset >= page.total || page.results.length === 0) {
          controller.close();
          return;
        }
        const perResult = chars / Math.max(1, page.results.length);
        pageSize = Math.max(1, Math.min(NDJSON_MAX_PAGE, Math.floor(NDJSON_PAGE_BYTES / perResult)));
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
}

/** A blob's chunks, read one at a time as the client takes them; cut off (no clean end) if the blob goes meanwhile. */
function streamBlob(store: JobStore, hex: string, size: number): ReadableStream<Uint8Array> {
  const chunks = Math.ceil(size / limits.BLOB_CHUNK_BYTES);
  let index = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (index >= chunks) {
          controller.close();
          return;
        }
        const chunk = await store.readBlobChunk(hex, index++);
        if (!chunk) controller.error(new Error(`blob sha256:${hex} was removed while it was read`));
        else controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') throw new HubError('invalid_json', 'the request body is empty; send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HubError('invalid_json', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

function paging(c: Context, defaultLimit: number, maxLimit: number): { offset: number; limit: number } {
  return {
    offset: queryInt(c, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
    limit: queryInt(c, 'limit', defaultLimit, 1, maxLimit),
  };
}

function queryInt(c: Context, name: string, fallback: number, min: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) {
    throw new HubError('invalid_request', `query parameter ${name} must be an integer from ${min} to ${max}`);
  }
  return n;
}

function errorResponse(c: Context, err: HubError): Response {
  if (err.retryAfterSeconds !== undefined) c.header('Retry-After', String(err.retryAfterSeconds));
  else if (err.code === 'rate_limited') c.header('Retry-After', '1');
  return c.json({ error: { code: err.code, message: err.message } }, err.status as 400);
}
