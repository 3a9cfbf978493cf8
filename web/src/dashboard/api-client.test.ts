import { describe, expect, it } from 'vitest';
import type { JsonValue } from '@edgeswarm/shared';
import { fetchAllResults, readWireError, type HubApi, type ResultsPage } from './api-client.ts';

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
      getJob: fail,
      cancelJob: fail,
      deleteJob: fail,
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
