import { describe, expect, it } from 'vitest';
import type { JsonValue } from '@edgeswarm/shared';
import type { HubApi, ResultsPage, ResultsStream } from './api-client.ts';
import { downloadAllResults } from './results-download.ts';

function fakeApi(values: JsonValue[], stream: 'ndjson' | 'json', sent = values): HubApi & { pages: number } {
  const fail = () => Promise.reject(new Error('not used'));
  const api = {
    pages: 0,
    streamResults: (): Promise<ResultsStream> => {
      if (stream === 'json') return Promise.resolve({ kind: 'json' });
      const text = sent.map((v) => `${JSON.stringify(v)}\n`).join('');
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
          controller.close();
        },
      });
      return Promise.resolve({ kind: 'ndjson', body });
    },
    getResults: (_id: string, offset: number, limit: number): Promise<ResultsPage> => {
      api.pages++;
      return Promise.resolve({ total: values.length, offset, results: values.slice(offset, offset + limit), missing: [] });
    },
    createJob: fail,
    listJobs: fail,
    listDevices: fail,
    getJob: fail,
    cancelJob: fail,
    deleteJob: fail,
    releaseQuarantine: fail,
    joinUrls: fail,
  };
  return api;
}

const values: JsonValue[] = [0, 1, 4, { n: 3, s: 'a\nb' }, null, [1, 2]];

describe('downloadAllResults', () => {
  it('streams NDJSON into a JSON array without paging', async () => {
    const api = fakeApi(values, 'ndjson');
    const seen: number[] = [];
    const got = await downloadAllResults(api, 'j', { expected: values.length, onProgress: (n) => seen.push(n) });
    expect(got.via).toBe('ndjson');
    expect(got.count).toBe(values.length);
    expect(JSON.parse(await got.blob.text())).toEqual(values);
    expect(api.pages).toBe(0);
    expect(seen.at(-1)).toBe(values.length);
  });

  it('falls back to pages of JSON when the hub does not stream', async () => {
    const api = fakeApi(values, 'json');
    const got = await downloadAllResults(api, 'j', { expected: values.length });
    expect(got.via).toBe('pages');
    expect(JSON.parse(await got.blob.text())).toEqual(values);
    expect(api.pages).toBeGreaterThan(0);
  });

  it('refuses a stream with fewer values than the job has inputs', async () => {
    const api = fakeApi(values, 'ndjson', values.slice(0, 4));
    await expect(downloadAllResults(api, 'j', { expected: values.length })).rejects.toThrow('4 results for a job of 6 inputs');
  });

  it('gives [] for a job without results', async () => {
    const got = await downloadAllResults(fakeApi([], 'ndjson'), 'j', { expected: 0 });
    expect(await got.blob.text()).toBe('[]');
  });
});
