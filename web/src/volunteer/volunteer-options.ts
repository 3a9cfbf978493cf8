// What the volunteer page's URL asks for: `?autostart=1` (kiosks, tests), `?threads=N` (number of workers) and
// `?join=TOKEN` (a private pool's join token, in the URL the hub prints).

export interface VolunteerOptions {
  autostart: boolean;
  threads: number;
  joinToken: string | undefined;
}

/** The hub accepts 1 to 1024 threads; a page beyond 64 workers only thrashes. */
export const MAX_PAGE_THREADS = 64;

/** One core stays free for the page and the rest of the device. */
export function defaultThreads(hardwareConcurrency: number | undefined): number {
  const cores = Number.isInteger(hardwareConcurrency) && (hardwareConcurrency ?? 0) > 0 ? (hardwareConcurrency as number) : 2;
  return Math.min(Math.max(cores - 1, 1), MAX_PAGE_THREADS);
}

export function parseVolunteerOptions(search: string, hardwareConcurrency: number | undefined): VolunteerOptions {
  const params = new URLSearchParams(search);
  const autostartParam = params.get('autostart');
  const autostart = autostartParam !== null && !['0', 'false', 'no'].includes(autostartParam.toLowerCase());
  const threadsParam = Number(params.get('threads') ?? Number.NaN);
  const threads = Number.isInteger(threadsParam) && threadsParam >= 1
    ? Math.min(threadsParam, MAX_PAGE_THREADS)
    : defaultThreads(hardwareConcurrency);
  const join = params.get('join');
  return { autostart, threads, joinToken: join === null || join === '' ? undefined : join.slice(0, 512) };
}
