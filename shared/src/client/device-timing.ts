/** Timings of the device protocol's client side, the same for the volunteer page and the Node agent. */

/** A `work:request` unanswered this long: the device reconnects (the hub may hold a lease it never saw acknowledged). */
export const REQUEST_TIMEOUT_MS = 10_000;
export const SUBMIT_TIMEOUT_MS = 10_000;
/** While idle the device asks for work this often, besides on `work:available`. */
export const IDLE_POLL_MS = 3_000;
/** Results of one lease that finish within this window travel in one `work:submit`. */
export const FLUSH_DELAY_MS = 50;
/** A batch this large (in characters of result JSON) goes at once. */
export const MAX_BATCH_CHARS = 256 * 1024;
/** After the hub refused the connection in its middleware (too many connections): Socket.IO does not retry those. */
export const REFUSED_RETRY_MS = 5_000;
