/** Limits of the public contract (shared/CONTRACT.md), in one place so hub, page and tests agree. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
export const MAX_CODE_BYTES = 256 * 1024;
export const MAX_INPUTS_ARRAY = 1_000_000;
export const MAX_RANGE_INPUTS = 10_000_000;
export const MAX_RESULT_BYTES = 1024 * 1024;
export const MAX_META_BYTES = 4 * 1024;
export const MAX_NAME_CHARS = 200;
export const MIN_TIMEOUT_MS = 100;
export const MAX_TIMEOUT_MS = 3_600_000;
export const DEFAULT_TIMEOUT_MS = 60_000;
export const MIN_ATTEMPTS = 1;
export const MAX_ATTEMPTS = 20;
export const DEFAULT_MAX_ATTEMPTS = 3;
/** A subtask whose leases are lost more than this many times fails with `device_lost`. */
export const MAX_LEASE_LOSSES = 10;
export const MAX_RESULTS_PAGE = 100_000;
export const DEFAULT_RESULTS_PAGE = 10_000;
export const MAX_LIST_PAGE = 1000;
export const DEFAULT_LIST_PAGE = 100;
/** Error messages from devices are cut to this many characters (longer ones are not rejected). */
export const MAX_ERROR_MESSAGE_CHARS = 2000;
/** Deepest nesting of arrays and objects accepted in `inputs` and `meta`. */
export const MAX_JSON_DEPTH = 100;
/**
 * Inputs one device connection may hold leased at once, per thread it reports: twice what the
 * volunteer page keeps in hand, so it can ask ahead while its last results are still in flight.
 */
export const MAX_HELD_PER_THREAD = 128;
export const MIN_PRIORITY = -10;
export const MAX_PRIORITY = 10;
/** Result verification: at most this many replicas per input to start with (`replication`); disagreement may double it. */
export const MAX_REPLICATION = 5;
/** One blob (a work module's bundle or a shared file): `PUT /api/blobs/:sha256` takes at most this many bytes. */
export const MAX_BLOB_BYTES = 64 * 1024 * 1024;
/** Blobs are stored and sent to devices in chunks of this many bytes (the last one may be shorter). */
export const BLOB_CHUNK_BYTES = 1024 * 1024;
/** Shared files one job may name. */
export const MAX_SHARED_FILES = 32;
