// Keeps one job and the first page of its results fresh for the job view (mount it with key={id}): the job from the feed when listed there, else polled.
import { useEffect, useRef, useState } from 'react';
import { isFinished, type Job } from '@edgeswarm/shared';
import { ApiError, type HubApi, type ResultsPage } from './api-client.ts';

export const FIRST_RESULTS = 50;
const POLL_MS = 2_000;
const RESULTS_MIN_INTERVAL_MS = 1_000;

export interface JobDetails {
  job: Job | null;
  results: ResultsPage | null;
  error: string | null;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** `onPolled` hears each job the hook fetched itself (when the job is not in `feedJob`), with the time it arrived. */
export function useJobDetails(
  api: HubApi,
  id: string,
  feedJob: Job | undefined,
  onPolled?: (job: Job, receivedAtMs: number) => void,
): JobDetails {
  const [fetched, setFetched] = useState<Job | null>(null);
  const [results, setResults] = useState<ResultsPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const lastResultsAt = useRef(0);
  const onPolledRef = useRef(onPolled);
  useEffect(() => {
    onPolledRef.current = onPolled;
  });
  const job = feedJob ?? (fetched?.id === id ? fetched : null);

  // The feed lists only the newest jobs; older ones are polled until they finish.
  const polling = feedJob === undefined && !(fetched?.id === id && isFinished(fetched.status));
  useEffect(() => {
    if (!polling) return undefined;
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const load = () => {
      api.getJob(id).then(
        (j) => {
          if (cancelled) return;
          onPolledRef.current?.(j, Date.now());
          setFetched(j);
          setError(null);
          if (!isFinished(j.status)) timer = setTimeout(load, POLL_MS);
        },
        (err: unknown) => {
          if (cancelled) return;
          setError(err instanceof ApiError && err.status === 404 ? 'This job no longer exists.' : message(err));
          if (!(err instanceof ApiError && err.status === 404)) timer = setTimeout(load, POLL_MS);
        },
      );
    };
    load();
    return () => {
      cancelled = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [api, id, polling]);

  // First results: reloaded when progress moves, at most once a second.
  const progressKey = job ? `${job.status}:${job.progress.completed}:${job.progress.failed}` : '';
  useEffect(() => {
    if (!progressKey) return undefined;
    let cancelled = false;
    const wait = Math.max(0, lastResultsAt.current + RESULTS_MIN_INTERVAL_MS - Date.now());
    const timer = setTimeout(() => {
      lastResultsAt.current = Date.now();
      api.getResults(id, 0, FIRST_RESULTS).then(
        (page) => {
          if (!cancelled) setResults(page);
        },
        (err: unknown) => {
          if (!cancelled) setError(message(err));
        },
      );
    }, wait);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [api, id, progressKey]);

  return { job, results: results && job ? results : null, error };
}
