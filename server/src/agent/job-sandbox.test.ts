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
