/**
 * The typed errors of the SDK and CLI: each has a `code` (match on it, not on `instanceof`, across
 * realms and processes) and the data a caller needs to act on it.
 */
import type { Job } from '@edgeswarm/shared';

export class EdgeswarmError extends Error {
  override name = 'EdgeswarmError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A work module (or inline function) could not be turned into a job: where, and why. */
export class BuildError extends EdgeswarmError {
  override name = 'BuildError';
  constructor(
    message: string,
    /** The file at fault (relative to the working directory), or null for an inline function. */
    readonly file: string | null,
    /** 1-based line and column in that file (or in the inline function's source), when known. */
    readonly line: number | null,
    readonly column: number | null = null,
  ) {
    super('build_error', message);
  }
}

/** The hub refused the job spec or an option: `field` names what is wrong (as the hub's message does). */
export class ValidationError extends EdgeswarmError {
  override name = 'ValidationError';
  constructor(
    code: string,
    message: string,
    readonly field: string | null,
  ) {
    super(code, message);
  }
}

/** The hub refused the token (`unauthorized`), or could not be reached at all (`unreachable`). */
export class AuthError extends EdgeswarmError {
  override name = 'AuthError';
}

/** A limit of the hub or of the token: request or blob too large, quota, rate (`retryAfterSeconds` when the hub says). */
export class LimitError extends EdgeswarmError {
  override name = 'LimitError';
  constructor(
    code: string,
    message: string,
    readonly retryAfterSeconds: number | null,
  ) {
    super(code, message);
  }
}

/** The job failed: `code` is the job's error code (`work_error`, `timeout`, ...), `index` the input, `deviceMessage` what the device said (at the work module's lines). */
export class JobFailedError extends EdgeswarmError {
  override name = 'JobFailedError';
  constructor(
    code: string,
    message: string,
    readonly index: number,
    readonly deviceMessage: string,
    readonly job: Job,
  ) {
    super(code, message);
  }
}

/** The job was cancelled (by `job.cancel()`, an abort signal, Ctrl-C or someone else). */
export class CancelledError extends EdgeswarmError {
  override name = 'CancelledError';
  constructor(
    message: string,
    readonly job: Job | null,
  ) {
    super('cancelled', message);
  }
}
