// React hook over pollPage: the rows of one page of a listing from the HTTP API, refreshed while shown (offset 0 is the feed's, so null).
import { useEffect, useState } from 'react';
import { PAGE_REFRESH_MS, pollPage, type LoadedPage } from './paging.ts';

export interface PagedList<T> {
  /** Null until the page's first answer. */
  items: T[] | null;
  total: number | null;
  error: string | null;
  /** Local time (ms) of the answer. */
  receivedAt: number;
}

interface State<T> extends PagedList<T> {
  offset: number;
  limit: number;
}

const LOADING: PagedList<never> = { items: null, total: null, error: null, receivedAt: 0 };

/**
 * `load` must keep its identity (useCallback) or the page is fetched again on every render; a new `refreshKey`
 * fetches it again at once (after the user changed something on it), keeping the rows shown meanwhile.
 */
export function usePagedList<T>(
  load: (offset: number, limit: number) => Promise<LoadedPage<T>>,
  offset: number,
  limit: number,
  refreshKey = 0,
  intervalMs = PAGE_REFRESH_MS,
): PagedList<T> | null {
  const [state, setState] = useState<State<T> | null>(null);

  useEffect(() => {
    if (offset === 0) return undefined;
    return pollPage(load, offset, limit, intervalMs, {
      page: (page, receivedAt) => setState({ offset, limit, items: page.items, total: page.total, error: null, receivedAt }),
      error: (err) => {
        const error = err instanceof Error ? err.message : String(err);
        setState((s) => (s && s.offset === offset && s.limit === limit ? { ...s, error } : { ...LOADING, offset, limit, error }));
      },
    });
    // refreshKey is only there to start over: its value is not used.
  }, [load, offset, limit, intervalMs, refreshKey]);

  if (offset === 0) return null;
  return state && state.offset === offset && state.limit === limit ? state : LOADING;
}
