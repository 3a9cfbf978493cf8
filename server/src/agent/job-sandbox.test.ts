/** The job sandbox in-process: results as the browser stores them, error texts, no Node globals, no host objects to escape through, vm timeouts. */
import { describe, expect, it } from 'vitest';
import { JobSandbox } from './job-sandbox.ts';

const BUDGET = { timeoutMs: 1000, syncTimeoutMs: 1000 };

async function run(code: string, input: unknown = null, budget = BUDGET) {
  const compiled = JobSandbox.compile(code, budget.timeoutMs);
  if (!compiled.ok) throw new Error(`did not compile: ${compiled.message}`);
  return compiled.sandbox.run(JSON.stringify(input), budget);
}

describe('JobSandbox', () => {
  it('runs sync and async functions and stores their results as JSON', async () => {
    await expect(run('(n) => n * n', 7)).resolves.toEqual({ ok: true, json: '49' });
    await expect(run('async (x) => { await null; return { s: x.s.toUpperCase() }; }', { s: 'a' })).resolves.toEqual({
      ok: true,
      json: '{"s":"A"}',
    });
    await expect(run('() => undefined')).resolves.toEqual({ ok: true, json: 'null' });
  });

  it('reports results JSON cannot hold, and results over 1 MiB, as the browser does', async () => {
    await expect(run('() => NaN')).resolves.toMatchObject({ ok: false, code: 'invalid_result' });
    await expect(run('() => ({ f() {} })')).resolves.toMatchObject({ ok: false, code: 'invalid_result' });
    await expect(run('() => "x".repeat(1100000)')).resolves.toMatchObject({ ok: false, code: 'result_too_large' });
  });

  it('describes errors thrown in the context like errors of the host', async () => {
    await expect(run('() => { throw new RangeError("too far") }')).resolves.toEqual({ ok: false, code: 'work_error', message: 'RangeError: too far' });
    await expect(run('async () => { await null; null.x }')).resolves.toMatchObject({ ok: false, code: 'work_error', message: expect.stringMatching(/^TypeError: /) as unknown });
    await expect(run('() => { throw "plain" }')).resolves.toEqual({ ok: false, code: 'work_error', message: 'thrown value: plain' });
  });

  it('says why code that is not a function expression does not compile', () => {
    expect(JobSandbox.compile('=> 1', 1000)).toMatchObject({ ok: false, message: expect.stringMatching(/^SyntaxError/) as unknown });
    expect(JobSandbox.compile('42', 1000)).toMatchObject({ ok: false, message: 'TypeError: code must evaluate to a function, got number' });
    expect(JobSandbox.compile('(() => { for (;;); })()', 100)).toMatchObject({ ok: false, timedOut: true });
  });

  it('gives job code no require, process, fetch, Buffer, module or timers', async () => {
    const outcome = await run(
      '() => [typeof require, typeof process, typeof fetch, typeof Buffer, typeof module, typeof exports, typeof setTimeout, typeof globalThis.process]',
    );
    expect(outcome).toEqual({ ok: true, json: JSON.stringify(Array(8).fill('undefined')) });
  });

  it('hands job code no object of the host realm to climb out through', async () => {
    const probe = 'constructor.constructor("return typeof process")()';
    const escapes = [
      `() => this.${probe}`,
      `(x) => x.${probe}`,
      `() => { try { null.x } catch (e) { return e.${probe} } }`,
      `() => ({ then(resolve) { resolve(resolve.${probe}) } })`,
      `async () => { let seen = "none"; class Spy extends Promise { constructor(ex) { super(ex); seen = ex.${probe} } }; Promise.prototype.constructor = Spy; await Promise.resolve(1).then(() => 2); return seen }`,
      `() => { let seen = "none"; Object.defineProperty(Promise.prototype, "constructor", { get() { seen = "read"; return undefined } }); return { then(r) { r(seen) } } }`,
      `() => performance.now.${probe}`,
      `() => { Error.prepareStackTrace = (e, frames) => frames.map((f) => { const t = f.getThis(), fn = f.getFunction(); return (t ? t.${probe} : "") + (fn ? fn.${probe} : "") }).join(""); return new Error().stack.replaceAll("undefined", "") }`,
    ];
    const seen: unknown[] = [];
    for (const code of escapes) {
      const outcome = await run(code, { a: 1 });
      expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
      if (outcome.ok) seen.push(JSON.parse(outcome.json));
    }
    // 'object' would mean a host function was reached: typeof process in the host realm.
    expect(seen).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'none', 'undefined', '']);
  });

  it('gives job code performance.now(), as browsers do in workers', async () => {
    const outcome = await run('() => { const a = performance.now(); const end = Date.now() + 20; while (Date.now() < end); return performance.now() - a; }');
    expect(outcome.ok).toBe(true);
    if (outcome.ok) expect(Number(outcome.json)).toBeGreaterThanOrEqual(19);
  });

  it('interrupts a synchronous endless loop with the vm timeout and stays usable', async () => {
    const compiled = JobSandbox.compile('(n) => { if (n < 0) for (;;); return n; }', 1000);
    if (!compiled.ok) throw new Error(compiled.message);
    const started = performance.now();
    await expect(compiled.sandbox.run('-1', { timeoutMs: 150, syncTimeoutMs: 150 })).resolves.toEqual({
      ok: false,
      code: 'timeout',
      message: 'the run took longer than timeoutMs (150 ms)',
    });
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(compiled.sandbox.run('5', { timeoutMs: 150, syncTimeoutMs: 150 })).resolves.toEqual({ ok: true, json: '5' });
  });
});

describe('JobSandbox with work modules', () => {
  const file = 'edgeswarm-bundle-0123456789ab.js';
  // A minimal WebAssembly module exporting add(i32, i32) -> i32, as a bundle would embed it.
  const ADD_WASM = [0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11];
  const bundle = [
    '"use strict";',
    `const wasm = new WebAssembly.Module(new Uint8Array(${JSON.stringify(ADD_WASM)}));`,
    'const { add } = new WebAssembly.Instance(wasm).exports;',
    'module.exports = { default: function work(n, ctx) {',
    '  if (n < 0) throw new RangeError("negative input " + n);',
    '  const text = new TextDecoder().decode(ctx.shared.words);',
    '  return { sum: add(n, ctx.shared.cfg.k), words: text.split(" ").length, frozen: Object.isFrozen(ctx.shared.cfg), typed: ctx.shared.words instanceof Uint8Array };',
    '} };',
  ].join('\n');
  const work = {
    code: null,
    bundle: { source: bundle, file },
    shared: [
      { name: 'words', as: 'bytes' as const, bytes: new TextEncoder().encode('héllo wörld again') },
      { name: 'cfg', as: 'json' as const, text: '{"k": 40}' },
    ],
  };

  it('evaluates a bundle, compiles its WebAssembly and hands each run the shared files in ctx', async () => {
    const compiled = JobSandbox.compile(work, 1000);
    if (!compiled.ok) throw new Error(compiled.message);
    await expect(compiled.sandbox.run('2', BUDGET)).resolves.toEqual({ ok: true, json: '{"sum":42,"words":3,"frozen":true,"typed":true}' });
  });

  it("reports a thrown error with its frames in the bundle, which the client maps to the module's lines", async () => {
    const compiled = JobSandbox.compile(work, 1000);
    if (!compiled.ok) throw new Error(compiled.message);
    const outcome = await compiled.sandbox.run('-1', BUDGET);
    expect(outcome).toMatchObject({ ok: false, code: 'work_error' });
    const message = (outcome as { message: string }).message;
    expect(message.split('\n')[0]).toBe('RangeError: negative input -1');
    expect(message).toContain(`(${file}:5:`);
  });

  it('refuses a bundle without a default export function, and reports one whose top level throws', () => {
    const none = JobSandbox.compile({ ...work, bundle: { source: 'module.exports = { default: 42 };', file } }, 1000);
    expect(none).toMatchObject({ ok: false, message: expect.stringMatching(/has no default export that is a function/) as unknown });
    const throwing = JobSandbox.compile({ ...work, bundle: { source: '\nthrow new Error("at load");', file } }, 1000);
    expect(throwing).toMatchObject({ ok: false, message: expect.stringContaining(`Error: at load\n    at ${file}:2:7`) as unknown });
  });

  it('gives TextEncoder and TextDecoder that agree with the host on UTF-8', async () => {
    const text = 'a é € 😀 \u0000 end';
    const compiled = JobSandbox.compile('(s) => [...new TextEncoder().encode(s)]', 1000);
    if (!compiled.ok) throw new Error(compiled.message);
    const outcome = await compiled.sandbox.run(JSON.stringify(text), BUDGET);
    expect(outcome).toEqual({ ok: true, json: JSON.stringify([...new TextEncoder().encode(text)]) });
    const bytes = [...new TextEncoder().encode(text), 0xff, 0xc3];
    const decode = JobSandbox.compile('(b) => new TextDecoder().decode(new Uint8Array(b))', 1000);
    if (!decode.ok) throw new Error(decode.message);
    const decoded = await decode.sandbox.run(JSON.stringify(bytes), BUDGET);
    expect(decoded).toEqual({ ok: true, json: JSON.stringify(new TextDecoder().decode(new Uint8Array(bytes))) });
  });

  it('lets no shared bytes or ctx lead back to the host realm', async () => {
    const probe = 'constructor.constructor("return typeof process")()';
    const source = `module.exports = { default: (x, ctx) => [ctx.${probe}, ctx.shared.words.${probe}, ctx.shared.cfg.${probe}, ctx.shared.words.buffer.${probe}] };`;
    const compiled = JobSandbox.compile({ ...work, bundle: { source, file } }, 1000);
    if (!compiled.ok) throw new Error(compiled.message);
    await expect(compiled.sandbox.run('0', BUDGET)).resolves.toEqual({ ok: true, json: JSON.stringify(Array(4).fill('undefined')) });
  });

  it("gives a bundle's Error.prepareStackTrace no trace array of the host when its errors are reported (run, async and load)", async () => {
    // The trap: if host code read `.stack` of an error of the context, V8 would call this with a trace array of
    // the host's realm, whose constructor's constructor is the host's Function.
    const trap = `
      Error.prepareStackTrace = (err, trace) => {
        try {
          const F = trace.constructor.constructor;
          globalThis.leak = F('return typeof process')();
        } catch (e) { globalThis.leak = 'threw'; }
        return 'Error: trapped\\n    at work (${file}:9:9)';
      };`;
    const source = `${trap}
      module.exports = { default: (n) => {
        if (n === 0) return String(globalThis.leak);
        if (n === 1) throw new Error('sync');
        return Promise.reject(new Error('async'));
      } };`;
    const compiled = JobSandbox.compile({ ...work, bundle: { source, file } }, 1000);
    if (!compiled.ok) throw new Error(compiled.message);
    const sync = await compiled.sandbox.run('1', BUDGET);
    const async = await compiled.sandbox.run('2', BUDGET);
    expect(sync).toMatchObject({ ok: false, code: 'work_error', message: expect.stringMatching(/^Error: sync/) as unknown });
    expect(async).toMatchObject({ ok: false, code: 'work_error', message: expect.stringMatching(/^Error: async/) as unknown });
    // The trace array prepareStackTrace saw was the context's own: its Function has no process to find.
    await expect(compiled.sandbox.run('0', BUDGET)).resolves.toEqual({ ok: true, json: '"undefined"' });
    const atLoad = JobSandbox.compile({ ...work, bundle: { source: `${trap}\nthrow new Error('at load');`, file } }, 1000);
    expect(atLoad).toMatchObject({ ok: false, message: expect.stringMatching(/^Error: at load/) as unknown });
    const probe = JobSandbox.compile({ ...work, bundle: { source: `${trap}\ntry { throw new Error('x'); } catch (e) { String(e.stack); }\nmodule.exports = { default: () => String(globalThis.leak) };`, file } }, 1000);
    if (!probe.ok) throw new Error(probe.message);
    await expect(probe.sandbox.run('0', BUDGET)).resolves.toEqual({ ok: true, json: '"undefined"' });
  });
});
