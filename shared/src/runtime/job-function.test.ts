import { describe, expect, it } from 'vitest';
import { compileJobFunction, errorText, runJobFunction, toResultJson, type RunOutcome } from './job-function.ts';

const MiB = 1024 * 1024;

/** Runs a job function that returns `value` whatever its input. */
const resultOf = (value: unknown): Promise<RunOutcome> => runJobFunction(() => value, 0);

describe('compileJobFunction', () => {
  it('compiles an arrow function', () => {
    const fn = compileJobFunction('(n) => n * n');
    expect(fn(7)).toBe(49);
  });

  it('compiles an arrow function without parentheses', () => {
    expect(compileJobFunction('n => n + 1')(1)).toBe(2);
  });

  it('compiles an async function expression that resolves to its value', async () => {
    const fn = compileJobFunction('async function (x) { return x * 2; }');
    const out = fn(21);
    expect(out).toBeInstanceOf(Promise);
    await expect(out).resolves.toBe(42);
  });

  it('compiles a named function expression', () => {
    expect(compileJobFunction('function fact(n) { return n <= 1 ? 1 : n * fact(n - 1); }')(5)).toBe(120);
  });

  it('compiles code that ends in a line comment', () => {
    expect(compileJobFunction('(n) => n - 1 // minus one')(10)).toBe(9);
  });

  it('runs the code in the global scope, where the runtime\'s local variables are not visible', () => {
    expect(compileJobFunction('() => [typeof code, typeof fn, typeof indirectEval]')(0)).toEqual([
      'undefined',
      'undefined',
      'undefined',
    ]);
  });

  it.each([
    ['a number', '42', 'got number'],
    ['a string', '"n => n"', 'got string'],
    ['null', 'null', 'got null'],
    ['an object', '{ f: 1 }', 'got object'],
    ['undefined', 'undefined', 'got undefined'],
  ])('throws a TypeError for code that evaluates to %s', (_label, code, got) => {
    expect(() => compileJobFunction(code)).toThrow(TypeError);
    expect(() => compileJobFunction(code)).toThrow(`code must evaluate to a function, ${got}`);
  });

  it('throws a SyntaxError for code that does not parse', () => {
    expect(() => compileJobFunction('n => {')).toThrow(SyntaxError);
  });
});

describe('runJobFunction work errors', () => {
  it('turns a thrown Error into work_error with its name and message', async () => {
    const out = await runJobFunction(() => {
      throw new RangeError('index 5 out of range');
    }, 0);
    expect(out).toEqual({ ok: false, code: 'work_error', message: 'RangeError: index 5 out of range' });
  });

  it('turns a thrown string into work_error that carries the string', async () => {
    const out = await runJobFunction(() => {
      throw 'bad input';
    }, 0);
    expect(out).toEqual({ ok: false, code: 'work_error', message: 'thrown value: bad input' });
  });

  it('turns an async rejection into work_error', async () => {
    const fn = compileJobFunction('async (n) => { throw new Error("no luck with " + n); }');
    expect(await runJobFunction(fn, 3)).toEqual({ ok: false, code: 'work_error', message: 'Error: no luck with 3' });
  });

  it('turns a rejection with a non-Error value into work_error', async () => {
    expect(await runJobFunction(() => Promise.reject(7), 0)).toEqual({
      ok: false,
      code: 'work_error',
      message: 'thrown value: 7',
    });
  });

  it('survives a thrown value that cannot be printed', async () => {
    const out = await runJobFunction(() => {
      throw Object.create(null);
    }, 0);
    expect(out).toEqual({ ok: false, code: 'work_error', message: 'an unprintable value was thrown' });
  });
});

describe('runJobFunction results', () => {
  it('passes the input and stores the value as JSON', async () => {
    const fn = compileJobFunction('(p) => ({ x: p.x * 2, tags: [p.tag, null] })');
    expect(await runJobFunction(fn, { x: 2, tag: 'a' })).toEqual({ ok: true, json: '{"x":4,"tags":["a",null]}' });
  });

  it('awaits a promise the function returns', async () => {
    expect(await runJobFunction(async (n) => (n as number) + 1, 1)).toEqual({ ok: true, json: '2' });
  });

  it.each([
    ['undefined', undefined],
    ['a promise of undefined', Promise.resolve(undefined)],
  ])('stores %s as null', async (_label, value) => {
    expect(await resultOf(value)).toEqual({ ok: true, json: 'null' });
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('fails a top-level %s with invalid_result', async (text, value) => {
    expect(await resultOf(value)).toEqual({
      ok: false,
      code: 'invalid_result',
      message: `the result holds ${text}, which JSON cannot hold`,
    });
  });

  it.each([
    ['NaN in an object', { a: { score: NaN } }, 'at key "score"', 'NaN'],
    ['Infinity in an array', [1, 2, Infinity], 'at key "2"', 'Infinity'],
    ['-Infinity deep inside', { rows: [{ v: -Infinity }] }, 'at key "v"', '-Infinity'],
  ])('fails %s with invalid_result naming the key', async (_label, value, where, text) => {
    const out = await resultOf(value);
    expect(out).toEqual({
      ok: false,
      code: 'invalid_result',
      message: `the result (${where}) holds ${text}, which JSON cannot hold`,
    });
  });

  it('fails a bigint with invalid_result', async () => {
    expect(await resultOf(10n)).toEqual({
      ok: false,
      code: 'invalid_result',
      message: 'the result holds a bigint, which JSON cannot hold',
    });
  });

  it('fails a nested bigint with invalid_result naming the key', async () => {
    const out = await resultOf({ big: 2n ** 64n });
    expect(out).toMatchObject({ ok: false, code: 'invalid_result' });
    expect(out.ok === false && out.message).toContain('at key "big"');
  });

  it('fails a function value with invalid_result instead of dropping it', async () => {
    expect(await resultOf(() => 1)).toEqual({
      ok: false,
      code: 'invalid_result',
      message: 'the result holds a function, which JSON cannot hold',
    });
    expect(await resultOf({ f() {} })).toEqual({
      ok: false,
      code: 'invalid_result',
      message: 'the result (at key "f") holds a function, which JSON cannot hold',
    });
  });

  it('fails a symbol with invalid_result', async () => {
    expect(await resultOf(Symbol('s'))).toMatchObject({ ok: false, code: 'invalid_result' });
  });

  it('fails a cyclic object with invalid_result', async () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    const out = await resultOf(cyclic);
    expect(out).toMatchObject({ ok: false, code: 'invalid_result' });
    expect(out.ok === false && out.message).toMatch(/^the result is not JSON: TypeError: /);
  });

  it('accepts a result of exactly 1 MiB of JSON', async () => {
    const out = await resultOf('a'.repeat(MiB - 2)); // two quote marks make 1048576 bytes
    expect(out.ok).toBe(true);
    expect(out.ok && out.json.length).toBe(MiB);
  });

  it('fails a result of 1 MiB plus one byte of JSON with result_too_large', async () => {
    expect(await resultOf('a'.repeat(MiB - 1))).toEqual({
      ok: false,
      code: 'result_too_large',
      message: 'the result is 1048577 bytes of JSON; at most 1048576 are allowed',
    });
  });

  it('counts multi-byte characters in UTF-8 bytes: 524287 two-byte characters fit', async () => {
    const out = await resultOf('é'.repeat(MiB / 2 - 1)); // 1048574 bytes + 2 quotes
    expect(out.ok).toBe(true);
  });

  it('counts multi-byte characters in UTF-8 bytes: 524288 two-byte characters do not', async () => {
    // Only 524290 UTF-16 code units of JSON, but 1048578 bytes.
    expect(await resultOf('é'.repeat(MiB / 2))).toEqual({
      ok: false,
      code: 'result_too_large',
      message: 'the result is 1048578 bytes of JSON; at most 1048576 are allowed',
    });
  });

  it('counts three-byte and astral characters in UTF-8 bytes', async () => {
    expect(await resultOf('€'.repeat(349_525))).toMatchObject({ ok: false, code: 'result_too_large' }); // 1048577 bytes
    expect((await resultOf('€'.repeat(349_524))).ok).toBe(true); // 1048574 bytes
    expect(await resultOf(['😀'.repeat(262_143) + 'ab'])).toMatchObject({ ok: false, code: 'result_too_large' }); // 1048578
    expect((await resultOf(['😀'.repeat(262_143)])).ok).toBe(true); // 1048576 bytes
  });
});

describe('toResultJson', () => {
  it('serialises values with toJSON such as dates', () => {
    expect(toResultJson({ at: new Date(Date.UTC(2026, 0, 1)) })).toEqual({
      ok: true,
      json: '{"at":"2026-01-01T00:00:00.000Z"}',
    });
  });
});

describe('errorText', () => {
  it.each([
    ['an Error', new TypeError('x is not a function'), 'TypeError: x is not a function'],
    ['a number', 42, 'thrown value: 42'],
    ['null', null, 'thrown value: null'],
    ['an object', { toString: () => 'custom' }, 'thrown value: custom'],
  ])('describes %s', (_label, err, text) => {
    expect(errorText(err)).toBe(text);
  });
});
