// Paging of the jobs and devices tables: page 1 comes from the live feed, other pages from the HTTP API, refreshed while shown.
import { formatCount } from './format.ts';

/** Rows per page; page 1 of each table is what the live feed sends (the newest 50 jobs, the first 100 devices). */
export const JOBS_PAGE_SIZE = 50;
export const DEVICES_PAGE_SIZE = 100;
/** A page other than the first is fetched again this often while it is shown. */
export const PAGE_REFRESH_MS = 2_000;

export interface LoadedPage<T> {
  total: number;
  items: T[];
}

/** "1–50 of 1,234"; "0 of 0" when there is nothing; the end is the rows shown, or the page's end while they load. */
export function pageInfo(offset: number, shown: number | null, pageSize: number, total: number): string {
  if (total === 0 && !shown) return '0 of 0';
  const end = shown !== null && shown > 0 ? offset + shown : Math.min(offset + pageSize, Math.max(total, offset + 1));
  return `${formatCount(offset + 1)}–${formatCount(end)} of ${formatCount(Math.max(total, end))}`;
}

/** The offset of the last page that has rows (0 when there are none). */
export function lastPageOffset(total: number, pageSize: number): number {
  return total <= 0 ? 0 : Math.floor((total - 1) / pageSize) * pageSize;
}

export interface PagePollListener<T> {
  page(page: LoadedPage<T>, receivedAtMs: number): void;
  error(err: unknown): void;
}

/**
 * Loads one page at once, then again `intervalMs` after each answer (never two requests at a time), until the
 * returned stop function is called; nothing is reported after that.
 */
export function pollPage<T>(
  load: (offset: number, limit: number) => Promise<LoadedPage<T>>,
  offset: number,
  limit: number,
  intervalMs: number,
  listener: PagePollListener<T>,
): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const next = () => {
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  const tick = () => {
    timer = null;
    load(offset, limit).then(
      (page) => {
        if (stopped) return;
        listener.page(page, Date.now());
        next();
      },
      (err: unknown) => {
        if (stopped) return;
        listener.error(err);
        next();
      },
    );
  };
  tick();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  };
}
