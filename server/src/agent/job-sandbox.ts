/** Job code in a fresh `vm` context that holds only JavaScript's standard built-ins; no object of the host realm ever crosses into it. */
import vm from 'node:vm';
import { types } from 'node:util';
import { bundleFrames, errorText, toResultJson, truncate, limits, type RunOutcome, type WorkSource } from '@edgeswarm/shared';

/**
 * Our own code, evaluated in the context before the job's: it keeps the built-ins it needs (job
 * code may replace the globals) and turns a call into a record of primitives and context objects.
 * A promise handed back to the host has an own `constructor` of `undefined`, so the host's
 * `Promise.prototype.then` never looks up a species constructor that job code could have planted
 * (which would receive a host function, and through its `constructor`, the host's `Function`).
 */
const PRELUDE = `(function () {
  'use strict';
  // performance.now(), as browsers give workers, made here from the context's own Date: no host object enters the
  // context (a host function's constructor would lead back to the host). Millisecond resolution.
  const origin = Date.now();
  const now = Date.now;
  Object.defineProperty(globalThis, 'performance', {
    value: Object.freeze({ __proto__: null, timeOrigin: origin, now: () => now() - origin }),
    enumerable: false,
  });
  // What a Web Worker has and bundled libraries use: UTF-8 TextEncoder and TextDecoder, and a console that prints nothing.
  const fromCharCode = String.fromCharCode;
  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(text = '') {
      const s = String(text);
      const out = new Uint8Array(s.length * 3);
      let n = 0;
      for (let i = 0; i < s.length; i++) {
        let c = s.charCodeAt(i);
        if (c >= 0xd800 && c < 0xe000) {
          const d = s.charCodeAt(i + 1);
          if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; } else c = 0xfffd;
        }
        if (c < 0x80) out[n++] = c;
        else if (c < 0x800) { out[n++] = 0xc0 | (c >> 6); out[n++] = 0x80 | (c & 63); }
        else if (c < 0x10000) { out[n++] = 0xe0 | (c >> 12); out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63); }
        else { out[n++] = 0xf0 | (c >> 18); out[n++] = 0x80 | ((c >> 12) & 63); out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63); }
      }
      return out.slice(0, n);
    }
  }
  class TextDecoder {
    constructor(label = 'utf-8', options = undefined) {
      if (!/^utf-?8$/i.test(String(label))) throw new RangeError('TextDecoder: only utf-8 is available to job code here');
      this.fatal = Boolean(options && options.fatal);
    }
    get encoding() { return 'utf-8'; }
    decode(input = new Uint8Array(0)) {
      const b = ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input);
      const fatal = this.fatal;
      const bad = () => { if (fatal) throw new TypeError('The encoded data was not valid utf-8'); return 0xfffd; };
      let out = '';
      const units = [];
      let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
      while (i < b.length) {
        const x = b[i];
        let c;
        let need = x < 0x80 ? 0 : x >= 0xc2 && x < 0xe0 ? 1 : x >= 0xe0 && x < 0xf0 ? 2 : x >= 0xf0 && x < 0xf5 ? 3 : -1;
        if (need < 0) { c = bad(); i++; }
        else if (need === 0) { c = x; i++; }
        else {
          c = x & (0x3f >> need);
          let ok = i + need < b.length;
          for (let k = 1; ok && k <= need; k++) { const y = b[i + k]; if ((y & 0xc0) !== 0x80) ok = false; else c = (c << 6) | (y & 63); }
          const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
          if (!ok || c < min || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) { c = bad(); i++; } else i += need + 1;
        }
        if (c > 0xffff) { c -= 0x10000; units.push(0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff)); } else units.push(c);
        if (units.length >= 8192) { out += fromCharCode(...units); units.length = 0; }
      }
      return out + fromCharCode(...units);
    }
  }
  const quiet = () => undefined;
  const hidden = (value) => ({ value, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(globalThis, 'TextEncoder', hidden(TextEncoder));
  Object.defineProperty(globalThis, 'TextDecoder', hidden(TextDecoder));
  Object.defineProperty(globalThis, 'console', hidden(Object.freeze({ log: quiet, info: quiet, warn: quiet, error: quiet, debug: quiet, trace: quiet })));
  const parse = JSON.parse;
  const U8 = Uint8Array;
  const P = Promise;
  const then = P.prototype.then;
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const isFrozen = Object.isFrozen;
  const values = Object.values;
  const apply = Reflect.apply;
  const shield = (p) => defineProperty(p, 'constructor', { value: undefined });
  // An error's stack as text, read here in the context: host code never reads \`.stack\` of a value of the context
  // (reading it runs the context's Error.prepareStackTrace, which job code may set, with a trace array of the
  // reader's realm, whose constructor would lead to the host's Function).
  const stackOf = (error) => {
    try {
      if (error === null || (typeof error !== 'object' && typeof error !== 'function')) return '';
      const stack = error.stack;
      return typeof stack === 'string' ? stack : '';
    } catch (_) {
      return '';
    }
  };
  const deepFreeze = (value) => {
    const stack = [value];
    while (stack.length > 0) {
      const item = stack.pop();
      if (item === null || typeof item !== 'object' || isFrozen(item)) continue;
      freeze(item);
      for (const child of values(item)) stack.push(child);
    }
    return value;
  };
  return {
    __proto__: null,
    /** The job's ctx, built from primitives and this context's own objects: { shared: { NAME: value } }, frozen. */
    newContext() {
      const shared = { __proto__: null };
      return {
        __proto__: null,
        json(name, text) { shared[name] = deepFreeze(parse(text)); },
        bytes(name, array) { shared[name] = array; },
        done() { return freeze({ shared: freeze(shared) }); },
      };
    },
    newBytes(size) { return new U8(size); },
    /** Runs a CommonJS factory: its default export (or module.exports itself), or what it threw and its stack. */
    load(factory) {
      const module = { exports: {} };
      try {
        factory(module, module.exports);
      } catch (error) {
        return { __proto__: null, ok: false, error, stack: stackOf(error) };
      }
      const exported = module.exports;
      const value = exported !== null && typeof exported === 'object' && typeof exported.default === 'function' ? exported.default : exported;
      return { __proto__: null, ok: true, value };
    },
    makeRunner(fn, ctx) {
      return function run(inputJson) {
        let value;
        try {
          value = fn(parse(inputJson), ctx);
        } catch (error) {
          return { __proto__: null, settled: true, ok: false, error, stack: stackOf(error) };
        }
        let thenable = false;
        try {
          thenable = value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';
        } catch (error) {
          return { __proto__: null, settled: true, ok: false, error, stack: stackOf(error) };
        }
        if (!thenable) return { __proto__: null, settled: true, ok: true, value };
        const pending = shield(new P((resolve) => resolve(value)));
        const done = shield(apply(then, pending, [
          (v) => ({ __proto__: null, ok: true, value: v }),
          (e) => ({ __proto__: null, ok: false, error: e, stack: stackOf(e) }),
        ]));
        return { __proto__: null, settled: false, done };
      };
    },
  };
})()`;

const RUN_FN = '__edgeswarmRun';
const INPUT = '__edgeswarmInput';
const LOAD_FN = '__edgeswarmLoad';
const RUN_SCRIPT = new vm.Script(`${RUN_FN}(${INPUT})`, { filename: 'edgeswarm-run.js' });
const PRELUDE_SCRIPT = new vm.Script(PRELUDE, { filename: 'edgeswarm-prelude.js' });

interface SettledRecord {
  settled: true;
  ok: boolean;
  value?: unknown;
  error?: unknown;
  /** The error's stack as the prelude read it in the context (a string). */
  stack?: string;
}
type Outcome = { ok: boolean; value?: unknown; error?: unknown; stack?: string };
type RunRecord = SettledRecord | { settled: false; done: Promise<Outcome> };

export function timeoutOutcome(timeoutMs: number): RunOutcome {
  return { ok: false, code: 'timeout', message: `the run took longer than timeoutMs (${timeoutMs} ms)` };
}

function isVmTimeout(err: unknown): boolean {
  return types.isNativeError(err) && (err as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

/**
 * `errorText` for values thrown in the context, whose errors are not `instanceof` the host's `Error`;
 * with a bundle's `file` and the error's `stack` (text the prelude read inside the context: never read
 * `.stack` of a context value here), its frames in the bundle follow, which the client maps to the
 * work module's lines.
 */
export function thrownText(err: unknown, file: string | null = null, stack = ''): string {
  let text = errorText(err);
  if (types.isNativeError(err)) {
    try {
      const copy = new Error(String(err.message));
      copy.name = String(err.name);
      text = errorText(copy);
    } catch {
      // a getter threw: keep the generic description
    }
  }
  const frames = file === null ? [] : bundleFrames(stack, file);
  return truncate([text, ...frames].join('\n'), limits.MAX_ERROR_MESSAGE_CHARS);
}

export type CompileOutcome = { ok: true; sandbox: JobSandbox } | { ok: false; message: string; timedOut: boolean };

/**
 * Standard built-ins bound as locals around job code. Inside a vm context every global lookup goes
 * through the context's interceptors, which made a loop calling `Math.imul` 25-40x slower than
 * outside; a lexical binding is resolved at compile time. Only names every context has are listed.
 */
const LOCAL_BUILTINS = [
  'Math', 'JSON', 'Number', 'String', 'Boolean', 'Array', 'Object', 'Symbol', 'BigInt', 'Date', 'RegExp',
  'Map', 'Set', 'WeakMap', 'WeakSet', 'Promise', 'Error', 'TypeError', 'RangeError', 'Reflect',
  'ArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
  'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
  'parseInt', 'parseFloat', 'isNaN', 'isFinite', 'Infinity', 'NaN',
] as const;

function wrapWithLocalBuiltins(code: string): string {
  return `(() => { const { ${LOCAL_BUILTINS.join(', ')} } = globalThis; return (${code}\n); })()`;
}

/**
 * A bundle as one script that evaluates it as `function (module, exports)` and returns its default
 * export. Everything before the bundle's text is on its first line, so its line numbers are the bundle's.
 */
function wrapBundle(source: string): string {
  return `${LOAD_FN}((() => { const { ${LOCAL_BUILTINS.join(', ')} } = globalThis; return (function (module, exports) {${source}\n}); })())`;
}

interface Prelude {
  newContext(): { json(name: string, text: string): void; bytes(name: string, array: Uint8Array): void; done(): unknown };
  newBytes(size: number): Uint8Array;
  load(factory: unknown): Outcome;
  makeRunner(fn: unknown, ctx: unknown): unknown;
}

export class JobSandbox {
  private constructor(
    private readonly context: vm.Context,
    /** The bundle's file name, for the frames of its errors; null for inline code. */
    private readonly file: string | null,
  ) {}

  /**
   * Evaluates a job's work in a new context: a function expression such as `(n) => n * n`, or a work
   * module's bundle (whose top level, WebAssembly modules included, runs now), and builds its `ctx`
   * (shared files: bytes copied into the context's own `Uint8Array`s, JSON parsed there). Evaluating
   * runs job code, so it is bounded by `timeoutMs` too.
   */
  static compile(work: WorkSource | string, timeoutMs: number): CompileOutcome {
    const source: WorkSource = typeof work === 'string' ? { code: work, bundle: null, shared: [] } : work;
    const sandbox: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    const context = vm.createContext(sandbox, { name: 'edgeswarm job', codeGeneration: { strings: true, wasm: true } });
    // The prelude runs first, so it keeps the built-ins before job code can replace them.
    const prelude = PRELUDE_SCRIPT.runInContext(context) as Prelude;
    const file = source.bundle?.file ?? null;
    const timeout = Math.max(1, Math.ceil(timeoutMs));
    let fn: unknown;
    try {
      if (source.bundle) {
        Object.defineProperty(sandbox, LOAD_FN, { value: prelude.load, writable: false, enumerable: false, configurable: false });
        const loaded = new vm.Script(wrapBundle(source.bundle.source), { filename: source.bundle.file }).runInContext(context, { timeout }) as Outcome;
        if (!loaded.ok) return { ok: false, message: thrownText(loaded.error, file, typeof loaded.stack === 'string' ? loaded.stack : ''), timedOut: false };
        fn = loaded.value;
      } else if (source.code !== null) {
        fn = new vm.Script(wrapWithLocalBuiltins(source.code), { filename: 'job.js' }).runInContext(context, { timeout });
      } else {
        return { ok: false, message: 'TypeError: the job has neither code nor a bundle', timedOut: false };
      }
    } catch (err) {
      const timedOut = isVmTimeout(err);
      return { ok: false, message: timedOut ? `evaluating the code took longer than ${timeoutMs} ms` : thrownText(err), timedOut };
    }
    if (typeof fn !== 'function') {
      const message = source.bundle
        ? 'TypeError: the work module has no default export that is a function: write `export default function (input, ctx) { ... }`'
        : `TypeError: code must evaluate to a function, got ${fn === null ? 'null' : typeof fn}`;
      return { ok: false, message, timedOut: false };
    }
    let ctx: unknown;
    try {
      ctx = buildContext(prelude, source);
    } catch (err) {
      return { ok: false, message: thrownText(err), timedOut: false };
    }
    Object.defineProperty(sandbox, RUN_FN, { value: prelude.makeRunner(fn, ctx), writable: false, enumerable: false, configurable: false });
    Object.defineProperty(sandbox, INPUT, { value: 'null', writable: true, enumerable: false, configurable: false });
    return { ok: true, sandbox: new JobSandbox(context, file) };
  }

  /**
   * Runs the function on one input (JSON text, parsed inside the context). With `syncTimeoutMs`
   * the synchronous part of the call is interrupted past that budget and reported as a timeout of
   * `timeoutMs`; an asynchronous remainder is bounded only by whoever owns the thread (the pool
   * terminates it).
   */
  async run(inputJson: string, budget: { timeoutMs: number; syncTimeoutMs: number | null }): Promise<RunOutcome> {
    const { timeoutMs, syncTimeoutMs } = budget;
    (this.context as Record<string, unknown>)[INPUT] = inputJson;
    let record: RunRecord;
    try {
      const options = syncTimeoutMs === null ? undefined : { timeout: Math.max(1, Math.ceil(syncTimeoutMs)) };
      record = RUN_SCRIPT.runInContext(this.context, options) as RunRecord;
    } catch (err) {
      if (isVmTimeout(err)) return timeoutOutcome(timeoutMs);
      return { ok: false, code: 'work_error', message: thrownText(err) };
    } finally {
      (this.context as Record<string, unknown>)[INPUT] = 'null';
    }
    const settled = record.settled ? record : await new Promise<Outcome>((resolve) => {
      // The host's own `then`, applied to the shielded promise: see PRELUDE.
      Reflect.apply(Promise.prototype.then, record.done, [resolve]);
    });
    if (!settled.ok) return { ok: false, code: 'work_error', message: thrownText(settled.error, this.file, typeof settled.stack === 'string' ? settled.stack : '') };
    return toResultJson(settled.value);
  }
}

/** The job's `ctx` inside the context: each shared file's bytes copied into a `Uint8Array` of the context, JSON parsed there. */
function buildContext(prelude: Prelude, work: WorkSource): unknown {
  const builder = prelude.newContext();
  for (const file of work.shared) {
    if (file.as === 'json') {
      try {
        builder.json(file.name, file.text);
      } catch (err) {
        throw new TypeError(`shared file ${file.name} is not valid JSON: ${thrownText(err)}`);
      }
      continue;
    }
    const array = prelude.newBytes(file.bytes.length);
    if (!types.isUint8Array(array)) throw new TypeError('the job sandbox could not make room for a shared file');
    // The host's own `set`, applied to the context's array: no property job code could have redefined is read.
    Reflect.apply(Uint8Array.prototype.set, array, [file.bytes]);
    builder.bytes(file.name, array);
  }
  return builder.done();
}
