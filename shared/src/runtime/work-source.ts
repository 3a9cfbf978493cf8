/** A job's work as a runner receives it (inline code, or a work module's bundle, plus shared files) and turning it into a callable with its `ctx`; used wherever job code runs, never on the hub. */
import type { SharedAs } from '../domain/blobs.ts';
import { compileJobFunction, type JobFunction } from './job-function.ts';

/** A shared file handed to a runner: bytes stay bytes; JSON arrives as its text and is parsed where it runs. */
export type SharedInput = { name: string; as: Extract<SharedAs, 'bytes'>; bytes: Uint8Array } | { name: string; as: Extract<SharedAs, 'json'>; text: string };

/** What a runner needs to run a job: exactly one of `code` and `bundle`, and the job's shared files. */
export interface WorkSource {
  /** An inline function expression. */
  code: string | null;
  /** A work module's bundle (CommonJS text, as `edgeswarm build` writes it) and the file name its stack frames carry. */
  bundle: { source: string; file: string } | null;
  shared: SharedInput[];
}

/** The second argument of every run: read-only, the same object for every input of the job in one runner. */
export interface WorkContext {
  readonly shared: Readonly<Record<string, unknown>>;
}

export interface LoadedWork {
  fn: JobFunction;
  ctx: WorkContext;
  /** The bundle's file name, so errors can carry their bundle positions; null for inline code. */
  file: string | null;
}

/** Freezes a parsed JSON value and everything in it (it is shared by every run). */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === null || typeof item !== 'object' || Object.isFrozen(item)) continue;
    Object.freeze(item);
    for (const child of Object.values(item)) stack.push(child);
  }
  return value;
}

/**
 * Evaluates a bundle in the global scope (indirect eval) as `function (module, exports)`, on the
 * bundle's first line so its line numbers stay those of the bundle, under `file` (`sourceURL`), and
 * returns its default export.
 */
export function compileBundle(source: string, file: string): JobFunction {
  // `(0, eval)` stays an indirect eval through bundlers.
  const factory: unknown = (0, eval)(`(function (module, exports) {${source}\n})\n//# sourceURL=${file}`);
  return defaultExport(factory, file);
}

/** Calls a CommonJS factory and returns the module's default export (or `module.exports` itself), which must be a function. */
export function defaultExport(factory: unknown, file: string): JobFunction {
  if (typeof factory !== 'function') throw new TypeError(`${file} did not evaluate to a module`);
  const module: { exports: unknown } = { exports: {} };
  (factory as (m: unknown, e: unknown) => void)(module, module.exports);
  const exports = module.exports as { default?: unknown } | null;
  const fn = typeof exports?.default === 'function' ? exports.default : exports;
  if (typeof fn !== 'function') {
    throw new TypeError('the work module has no default export that is a function: write `export default function (input, ctx) { ... }`');
  }
  return fn as JobFunction;
}

/** Compiles a job's work and builds its `ctx` (shared files: bytes as `Uint8Array`, JSON parsed and frozen). */
export function compileWork(work: WorkSource): LoadedWork {
  const file = work.bundle?.file ?? null;
  let fn: JobFunction;
  if (work.bundle) fn = compileBundle(work.bundle.source, work.bundle.file);
  else if (work.code !== null) fn = compileJobFunction(work.code);
  else throw new TypeError('the job has neither code nor a bundle');
  const shared: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const file of work.shared) {
    if (file.as === 'json') {
      try {
        shared[file.name] = deepFreeze(JSON.parse(file.text) as unknown);
      } catch (err) {
        throw new TypeError(`shared file ${file.name} is not valid JSON: ${(err as Error).message}`);
      }
    } else {
      shared[file.name] = file.bytes;
    }
  }
  return { fn, ctx: Object.freeze({ shared: Object.freeze(shared) }), file };
}
