// What the volunteer page's URL asks for: `?autostart=1` (kiosks, tests), `?threads=N` (number of workers), `?pressure=off`
// (no easing off under CPU pressure: a machine given over to the work),
// `?join=TOKEN` (a private pool's join token, in the URL the hub prints) and `?hubs=URL1,URL2` (several hubs of one
// network: the page stays on the first that answers and moves to the next when its hub dies).

export interface VolunteerOptions {
  autostart: boolean;
  threads: number;
  joinToken: string | undefined;
  /** The hubs' origins from `?hubs=`, in order (entries that are not http(s) URLs are left out); undefined: the page's own hub. */
  hubs?: string[];
  /** Whether the page eases off under CPU pressure; `?pressure=off` for a machine given over to the work (and benchmarks). */
  watchPressure: boolean;
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
  const pressure = params.get('pressure');
  const options: VolunteerOptions = {
    autostart,
    threads,
    joinToken: join === null || join === '' ? undefined : join.slice(0, 512),
    watchPressure: pressure === null || !['off', '0', 'false', 'no'].includes(pressure.toLowerCase()),
  };
  const hubs = hubOrigins(params.get('hubs'));
  if (hubs.length > 0) options.hubs = hubs;
  return options;
}

/** At most this many hubs are taken from `?hubs=`. */
export const MAX_HUBS = 16;

function hubOrigins(list: string | null): string[] {
  const origins: string[] = [];
  for (const part of (list ?? '').split(',')) {
    try {
      const url = new URL(part.trim());
      if ((url.protocol === 'http:' || url.protocol === 'https:') && !origins.includes(url.origin)) origins.push(url.origin);
    } catch {
      // not a URL: left out
    }
  }
  return origins.slice(0, MAX_HUBS);
}
