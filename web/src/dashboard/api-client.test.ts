import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JsonValue } from '@edgeswarm/shared';
import { ApiError, createHubApi, fetchAllResults, readWireError, type HubApi, type ResultsPage } from './api-client.ts';

describe('readWireError', () => {
  it('reads the contract’s error envelope', () => {
    expect(readWireError({ error: { code: 'invalid_job', message: 'inputs must not be empty' } })).toEqual({
      code: 'invalid_job',
      message: 'inputs must not be empty',
    });
  });

  it('returns null for bodies that are not an error envelope', () => {
    expect(readWireError(null)).toBeNull();
    expect(readWireError('<html>')).toBeNull();
    expect(readWireError({ error: 'x' })).toBeNull();
    expect(readWireError({ error: {} })).toBeNull();
  });
});

describe('fetchAllResults', () => {
  function fakeApi(values: JsonValue[], calls: Array<[number, number]>): HubApi {
    const fail = () => Promise.reject(new Error('not used'));
    return {
      getResults: (_id, offset, limit): Promise<ResultsPage> => {
        calls.push([offset, limit]);
        const results = values.slice(offset, offset + limit);
        return Promise.resolve({ total: values.length, offset, results, missing: [] });
      },
      createJob: fail,
      listJobs: fail,
      listDevices: fail,
      getJob: fail,
      streamResults: fail,
      cancelJob: fail,
      deleteJob: fail,
      releaseQuarantine: fail,
      joinUrls: fail,
    };
  }

  it('pages through every result in input order', async () => {
    const values = Array.from({ length: 25 }, (_, i) => i * i);
    const calls: Array<[number, number]> = [];
    await expect(fetchAllResults(fakeApi(values, calls), 'j', 10)).resolves.toEqual(values);
    expect(calls).toEqual([
      [0, 10],
      [10, 10],
      [20, 10],
    ]);
  });

  it('asks once for an empty job', async () => {
    const calls: Array<[number, number]> = [];
    await expect(fetchAllResults(fakeApi([], calls), 'j')).resolves.toEqual([]);
    expect(calls).toHaveLength(1);
  });
});

describe('createHubApi', () => {
  afterEach(() => vi.unstubAllGlobals());

  function stubFetch(answer: () => Response): Array<{ url: string; init: RequestInit | undefined }> {
    const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
    vi.stubGlobal('fetch', (url: string, init?: RequestInit) => {
      calls.push({ url, init });
      return Promise.resolve(answer());
    });
    return calls;
  }
  const header = (init: RequestInit | undefined, name: string) => new Headers(init?.headers).get(name);

  it('asks for NDJSON and hands over the body when the hub streams', async () => {
    const calls = stubFetch(() => new Response('1\n2\n', { headers: { 'Content-Type': 'application/x-ndjson; charset=utf-8' } }));
    const answer = await createHubApi('tok', () => undefined).streamResults('job/1');
    expect(calls[0]?.url).toBe('/api/jobs/job%2F1/results');
    expect(header(calls[0]?.init, 'Accept')).toBe('application/x-ndjson');
    expect(header(calls[0]?.init, 'Authorization')).toBe('Bearer tok');
    expect(answer.kind).toBe('ndjson');
    if (answer.kind === 'ndjson') expect(await new Response(answer.body).text()).toBe('1\n2\n');
  });

  it('reports a JSON answer (a hub without NDJSON) so the caller pages instead', async () => {
    stubFetch(() => Response.json({ total: 0, offset: 0, results: [], missing: [] }));
    await expect(createHubApi('tok', () => undefined).streamResults('j')).resolves.toEqual({ kind: 'json' });
  });

  it('turns an error answer into ApiError and reports 401', async () => {
    stubFetch(() => Response.json({ error: { code: 'not_found', message: 'no job j' } }, { status: 404 }));
    const api = createHubApi('tok', () => undefined);
    await expect(api.streamResults('j')).rejects.toEqual(new ApiError(404, 'not_found', 'no job j'));
    let refused = 0;
    stubFetch(() => new Response('nope', { status: 401, statusText: 'Unauthorized' }));
    const err: unknown = await createHubApi('tok', () => refused++).listDevices(100, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('http_401');
    expect(refused).toBe(1);
  });

  it('pages devices and jobs with offset and limit', async () => {
    const calls = stubFetch(() => Response.json({ total: 0, devices: [] }));
    const api = createHubApi('tok', () => undefined);
    await api.listDevices(200, 100);
    await api.listJobs(50, 50);
    expect(calls.map((c) => c.url)).toEqual(['/api/devices?offset=200&limit=100', '/api/jobs?offset=50&limit=50']);
  });
});
