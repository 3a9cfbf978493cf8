// Every result of a job as a Blob of one JSON array: streamed as NDJSON when the hub can, paged through JSON when it cannot.
import { fetchAllResults, type HubApi } from './api-client.ts';
import { ndjsonBodyToJsonArrayBlob } from './ndjson-array.ts';

export interface ResultsDownload {
  blob: Blob;
  count: number;
  /** How the results came: one NDJSON stream, or pages of JSON from an older hub. */
  via: 'ndjson' | 'pages';
}

export interface DownloadOptions {
  /** The job's input count when known: a stream that ends with fewer values is refused as incomplete. */
  expected?: number;
  onProgress?: (loaded: number) => void;
  signal?: AbortSignal;
}

export async function downloadAllResults(api: HubApi, id: string, options: DownloadOptions = {}): Promise<ResultsDownload> {
  const { expected, onProgress, signal } = options;
  const answer = await api.streamResults(id, signal);
  if (answer.kind === 'json') {
    const all = await fetchAllResults(api, id, undefined, (loaded) => {
      signal?.throwIfAborted();
      onProgress?.(loaded);
    });
    signal?.throwIfAborted();
    return { blob: new Blob([JSON.stringify(all)], { type: 'application/json' }), count: all.length, via: 'pages' };
  }
  const { blob, count } = await ndjsonBodyToJsonArrayBlob(answer.body, onProgress, signal);
  if (expected !== undefined && count !== expected) {
    throw new Error(`the hub sent ${count} results for a job of ${expected} inputs; try again`);
  }
  return { blob, count, via: 'ndjson' };
}
