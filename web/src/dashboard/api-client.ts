// The dashboard's HTTP client for the hub's /api routes: bearer token, JSON in and out, `{error: {code, message}}` as ApiError.
import type { DeviceInfo, Job, JsonValue, WireError } from '@edgeswarm/shared';

export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface JobList {
  total: number;
  jobs: Job[];
}

export interface DeviceList {
  total: number;
  devices: DeviceInfo[];
}

/**
 * The answer to a request for every result as NDJSON: the body to read, or `json` when the hub answered with
 * a page of JSON instead (a hub from before NDJSON support); then page through `getResults`.
 */
export type ResultsStream = { kind: 'ndjson'; body: ReadableStream<Uint8Array> } | { kind: 'json' };

export interface ResultsPage {
  total: number;
  offset: number;
  results: JsonValue[];
  missing: number[];
}

/** The error envelope of the contract, or null when the body is something else (a proxy's HTML page, say). */
export function readWireError(body: unknown): WireError | null {
  if (typeof body !== 'object' || body === null || !('error' in body)) return null;
  const error: unknown = body.error;
  if (typeof error !== 'object' || error === null) return null;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : null;
  const message = 'message' in error && typeof error.message === 'string' ? error.message : null;
  if (code === null && message === null) return null;
  return { code: code ?? 'error', message: message ?? code ?? 'the hub reported an error' };
}

export interface HubApi {
  createJob(spec: unknown): Promise<Job>;
  listJobs(offset?: number, limit?: number): Promise<JobList>;
  listDevices(offset?: number, limit?: number): Promise<DeviceList>;
  getJob(id: string): Promise<Job>;
  getResults(id: string, offset: number, limit: number): Promise<ResultsPage>;
  /** Every result, one JSON value per line in input order (`Accept: application/x-ndjson`). */
  streamResults(id: string, signal?: AbortSignal): Promise<ResultsStream>;
  cancelJob(id: string): Promise<Job>;
  deleteJob(id: string): Promise<void>;
  /** Lifts a device's quarantine (admin token only). */
  releaseQuarantine(deviceId: string): Promise<void>;
  /** The volunteer URLs phones on the LAN join by (admin token only). */
  joinUrls(): Promise<{ urls: string[] }>;
}

/** `onUnauthorized` runs when the hub answers 401, so the page can ask for the token again. */
export function createHubApi(token: string, onUnauthorized: () => void): HubApi {
  /** The hub's answer when it is a success; an ApiError (after `onUnauthorized` on 401) when not. */
  async function send(method: string, path: string, init: { body?: unknown; accept?: string; signal?: AbortSignal } = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          ...(init.accept ? { Accept: init.accept } : {}),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: init.signal,
      });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new ApiError(0, 'network_error', `Could not reach the hub (${err instanceof Error ? err.message : String(err)}).`);
    }
    if (res.ok) return res;
    if (res.status === 401) onUnauthorized();
    const error = readWireError(parseJson(await res.text().catch(() => ''))) ?? {
      code: `http_${res.status}`,
      message: `The hub answered ${res.status} ${res.statusText}.`,
    };
    throw new ApiError(res.status, error.code, error.message);
  }

  async function call<TResult>(method: string, path: string, body?: unknown): Promise<TResult> {
    const res = await send(method, path, { body });
    if (res.status === 204) return undefined as TResult;
    return parseJson(await res.text()) as TResult;
  }

  async function streamResults(id: string, signal?: AbortSignal): Promise<ResultsStream> {
    const res = await send('GET', `${job(id)}/results`, { accept: 'application/x-ndjson', signal });
    const type = res.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase();
    if (type === 'application/x-ndjson' && res.body) return { kind: 'ndjson', body: res.body };
    await res.body?.cancel().catch(() => undefined);
    return { kind: 'json' };
  }

  const job = (id: string) => `/api/jobs/${encodeURIComponent(id)}`;
  return {
    createJob: (spec) => call('POST', '/api/jobs', spec),
    listJobs: (offset = 0, limit = 100) => call('GET', `/api/jobs?offset=${offset}&limit=${limit}`),
    listDevices: (offset = 0, limit = 100) => call('GET', `/api/devices?offset=${offset}&limit=${limit}`),
    getJob: (id) => call('GET', job(id)),
    getResults: (id, offset, limit) => call('GET', `${job(id)}/results?offset=${offset}&limit=${limit}`),
    streamResults,
    cancelJob: (id) => call('POST', `${job(id)}/cancel`),
    deleteJob: (id) => call('DELETE', job(id)),
    releaseQuarantine: (deviceId) => call('DELETE', `/api/devices/${encodeURIComponent(deviceId)}/quarantine`),
    joinUrls: () => call('GET', '/api/join'),
  };
}

function parseJson(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}

/** Every result of a job, in input order, paged `pageSize` at a time (the hub allows at most 100000). */
export async function fetchAllResults(
  api: HubApi,
  id: string,
  pageSize = 100_000,
  onProgress?: (loaded: number, total: number) => void,
): Promise<JsonValue[]> {
  const all: JsonValue[] = [];
  let total = Infinity;
  while (all.length < total) {
    const page = await api.getResults(id, all.length, pageSize);
    total = page.total;
    if (page.results.length === 0) break;
    for (const value of page.results) all.push(value);
    onProgress?.(all.length, total);
  }
  return all;
}
