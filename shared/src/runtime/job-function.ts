/** Turning a job's code string into a callable and its return value into stored JSON; used wherever job code runs (worker threads, never the hub). */
import { MAX_ERROR_MESSAGE_CHARS, MAX_RESULT_BYTES } from '../domain/limits.ts';
import { truncate } from '../domain/text.ts';
import type { RunErrorCode } from '../domain/job.ts';
import { utf8Length } from '../domain/utf8.ts';

/** A job's work function: called with one input and the job's read-only `ctx` (its shared files). */
export type JobFunction = (input: unknown, ctx?: unknown) => unknown;

export type RunOutcome =
  | { ok: true; json: string }
  | { ok: false; code: RunErrorCode; message: string };

/**
 * Compiles a function expression such as `(n) => n * n`. Indirect eval runs it in the global
 * scope of the caller's realm, so it sees no local variables of the runtime.
 */
export function compileJobFunction(code: string): JobFunction {
  // `(0, eval)` stays an indirect eval through bundlers (an aliased `eval` was rewritten to a direct one).
  const fn: unknown = (0, eval)(`(${code}\n)`);
  if (typeof fn !== 'function') {
    throw new TypeError(`code must evaluate to a function, got ${fn === null ? 'null' : typeof fn}`);
  }
  return fn as JobFunction;
}

class NotJsonError extends Error {}

function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  const where = key === '' ? 'the result' : `the result (at key ${truncate(JSON.stringify(key), 100)})`;
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new NotJsonError(`${where} holds ${String(value)}, which JSON cannot hold`);
  }
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
    throw new NotJsonError(`${where} holds a ${typeof value}, which JSON cannot hold`);
  }
  return value;
}

/** Converts a job function's return value to JSON text, or says why it cannot be stored. */
export function toResultJson(value: unknown): RunOutcome {
  let json: string | undefined;
  try {
    json = JSON.stringify(value === undefined ? null : value, jsonReplacer);
  } catch (err) {
    const message = err instanceof NotJsonError ? err.message : `the result is not JSON: ${errorText(err)}`;
    return { ok: false, code: 'invalid_result', message };
  }
  if (json === undefined) return { ok: true, json: 'null' };
  const bytes = json.length > MAX_RESULT_BYTES / 4 ? utf8Length(json) : json.length;
  if (bytes > MAX_RESULT_BYTES) {
    return {
      ok: false,
      code: 'result_too_large',
      message: `the result is ${bytes} bytes of JSON; at most ${MAX_RESULT_BYTES} are allowed`,
    };
  }
  return { ok: true, json };
}

/**
 * Runs the job function on one input with its `ctx`; errors thrown by job code become `work_error`
 * data. For a bundle (`file`), the message also carries the error's frames in the bundle, which the
 * submitter's client maps back to the work module's own lines.
 */
export async function runJobFunction(fn: JobFunction, input: unknown, ctx?: unknown, file: string | null = null): Promise<RunOutcome> {
  let value: unknown;
  try {
    value = await fn(input, ctx);
  } catch (err) {
    return { ok: false, code: 'work_error', message: workErrorText(err, file) };
  }
  return toResultJson(value);
}

/**
 * `errorText`, plus the error's frames in the bundle `file` when there is one. Only for errors of the
 * caller's own realm (a browser worker): reading `.stack` runs the realm's `Error.prepareStackTrace`.
 */
export function workErrorText(err: unknown, file: string | null): string {
  let stack: unknown = '';
  try {
    if (file !== null) stack = (err as { stack?: unknown } | null)?.stack;
  } catch {
    stack = '';
  }
  const frames = typeof stack === 'string' && file !== null ? bundleFrames(stack, file) : [];
  return truncate([errorText(err), ...frames].join('\n'), MAX_ERROR_MESSAGE_CHARS);
}

/** Lines of a stack trace that point into `file` (a bundle), at most `max`, as `    at NAME (FILE:LINE:COL)` lines. */
export function bundleFrames(stack: string, file: string, max = 5): string[] {
  return stack
    .split('\n')
    .filter((line) => /^\s*at /.test(line) && line.includes(file))
    .slice(0, max)
    .map((line) => `    ${line.trim()}`);
}

/** A readable, bounded description of anything thrown. */
export function errorText(err: unknown): string {
  let text: string;
  try {
    text = err instanceof Error ? `${err.name}: ${err.message}` : `thrown value: ${String(err)}`;
  } catch {
    text = 'an unprintable value was thrown';
  }
  return truncate(text, MAX_ERROR_MESSAGE_CHARS);
}
