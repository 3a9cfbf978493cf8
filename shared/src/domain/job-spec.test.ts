import { describe, expect, it } from 'vitest';
import { inputCount, parseJobSpec, type JobInputs, type JobSpec } from './job-spec.ts';
import { REDUCERS } from './job.ts';

const base = { code: '(n) => n * n', inputs: [1, 2, 3] };

function accepted(input: unknown): JobSpec {
  const r = parseJobSpec(input);
  if (!r.ok) throw new Error(`expected the spec to be accepted, got: ${r.message}`);
  return r.value;
}

function rejected(input: unknown): string {
  const r = parseJobSpec(input);
  if (r.ok) throw new Error(`expected the spec to be rejected, got: ${JSON.stringify(r.value).slice(0, 200)}`);
  return r.message;
}

const withRange = (range: Record<string, unknown>) => ({ ...base, inputs: { range } });

describe('parseJobSpec defaults', () => {
  it('fills name, reduce, timeoutMs, maxAttempts, meta and priority when only code and inputs are given', () => {
    expect(accepted(base)).toEqual({
      name: 'job',
      code: '(n) => n * n',
      bundle: null,
      shared: [],
      inputs: { kind: 'array', values: [1, 2, 3] },
      reduce: 'collect',
      timeoutMs: 60000,
      maxAttempts: 3,
      meta: {},
      priority: 0,
      verify: 'none',
      replication: 1,
      quorum: 1,
      tolerance: 0,
    });
  });

  it('keeps every field that is given', () => {
    const spec = accepted({
      name: 'squares',
      code: 'async function (x) { return x; }',
      inputs: { range: { start: 5, end: 50, step: 5 } },
      reduce: 'sum',
      timeoutMs: 1234,
      maxAttempts: 7,
      meta: { view: 'image', width: 600 },
      priority: -3,
      verify: 'adaptive',
      replication: 3,
      quorum: 2,
      tolerance: 1e-9,
    });
    expect(spec).toEqual({
      name: 'squares',
      code: 'async function (x) { return x; }',
      bundle: null,
      shared: [],
      inputs: { kind: 'range', range: { start: 5, end: 50, step: 5 } },
      reduce: 'sum',
      timeoutMs: 1234,
      maxAttempts: 7,
      meta: { view: 'image', width: 600 },
      priority: -3,
      verify: 'adaptive',
      replication: 3,
      quorum: 2,
      tolerance: 1e-9,
    });
  });

  it.each([
    [-10, true],
    [10, true],
    [-11, false],
    [11, false],
    [1.5, false],
    ['1', false],
  ])('accepts priority %s: %s', (priority, ok) => {
    const parsed = parseJobSpec({ ...base, priority });
    expect(parsed.ok).toBe(ok);
    if (!parsed.ok) expect(parsed.message).toBe('priority must be an integer from -10 to 10');
  });

  it('gives each job its own default meta object', () => {
    const a = accepted(base);
    const b = accepted(base);
    a.meta['x'] = 1;
    expect(b.meta).toEqual({});
  });
});

describe('parseJobSpec body', () => {
  it.each([
    ['an array', [base]],
    ['null', null],
    ['a string', '{"code":"n => n"}'],
    ['a number', 42],
    ['undefined', undefined],
  ])('rejects a body that is %s', (_label, body) => {
    expect(rejected(body)).toBe('the job spec must be a JSON object');
  });

  it('rejects an unknown top-level field, naming it', () => {
    expect(rejected({ ...base, colour: 'red' })).toBe('unknown field "colour"');
  });

  it('names every unknown top-level field', () => {
    const message = rejected({ ...base, colour: 'red', size: 3 });
    expect(message).toContain('unknown field "colour"');
    expect(message).toContain('unknown field "size"');
  });

  it('reports problems in several fields together', () => {
    const message = rejected({ ...base, inputs: [], maxAttempts: 0 });
    expect(message).toContain('inputs must not be empty');
    expect(message).toContain('maxAttempts must be an integer from 1 to 20');
  });
});

describe('parseJobSpec name', () => {
  it.each([
    ['empty', ''],
    ['200 characters', 'n'.repeat(200)],
  ])('accepts a name that is %s', (_label, name) => {
    expect(accepted({ ...base, name }).name).toBe(name);
  });

  it('rejects a name of 201 characters', () => {
    expect(rejected({ ...base, name: 'n'.repeat(201) })).toBe('name must be at most 200 characters');
  });

  it.each([
    ['a number', 5],
    ['null', null],
    ['an array', ['job']],
  ])('rejects a name that is %s, saying it must be a string', (_label, name) => {
    expect(rejected({ ...base, name })).toBe('name must be a string');
  });
});

describe('parseJobSpec code', () => {
  it('rejects a missing code with "code is required"', () => {
    expect(rejected({ inputs: [1] })).toBe('code is required (or bundle: "sha256:HEX", a work module uploaded as a blob)');
  });

  it.each([
    ['a number', 5],
    ['null', null],
    ['an object', { fn: 'n => n' }],
  ])('rejects code that is %s, saying it must be a string', (_label, code) => {
    expect(rejected({ ...base, code })).toBe('code must be a string holding a JavaScript function expression');
  });

  it.each([
    ['empty', ''],
    ['only whitespace', '  \n\t '],
  ])('rejects code that is %s', (_label, code) => {
    expect(rejected({ ...base, code })).toBe('code must not be empty');
  });

  it('accepts code of exactly 256 KiB of ASCII', () => {
    const code = 'n => n' + ' '.repeat(256 * 1024 - 6);
    expect(accepted({ ...base, code }).code).toHaveLength(262144);
  });

  it('rejects code of 256 KiB plus one byte of ASCII', () => {
    const code = 'n => n' + ' '.repeat(256 * 1024 - 5);
    expect(rejected({ ...base, code })).toBe('code must be at most 262144 bytes');
  });

  it('counts code in UTF-8 bytes: 131072 two-byte characters fit, 131073 do not', () => {
    const fits = '/*' + 'é'.repeat(131070) + '*/';
    expect(fits.length).toBe(131074);
    expect(accepted({ ...base, code: fits }).code).toBe(fits);
    const tooBig = '/*' + 'é'.repeat(131071) + '*/';
    expect(rejected({ ...base, code: tooBig })).toBe('code must be at most 262144 bytes');
  });

  it('rejects code under 256 Ki characters whose astral characters make it over 256 KiB', () => {
    // 65537 emoji are 131074 UTF-16 code units but 262148 UTF-8 bytes.
    const code = '😀'.repeat(65537);
    expect(code.length).toBeLessThan(262144);
    expect(rejected({ ...base, code })).toBe('code must be at most 262144 bytes');
  });
});

describe('parseJobSpec inputs as an array', () => {
  it('rejects missing inputs, naming the field', () => {
    expect(rejected({ code: 'n => n' })).toMatch(/^inputs /);
  });

  it('rejects an empty array', () => {
    expect(rejected({ ...base, inputs: [] })).toBe('inputs must not be empty');
  });

  it('accepts an array of any JSON values in order', () => {
    const values = [1, 'two', null, { three: [3] }, [4], true];
    expect(accepted({ ...base, inputs: values }).inputs).toEqual({ kind: 'array', values });
  });

  it('accepts an array of 1,000,000 elements', () => {
    const spec = accepted({ ...base, inputs: new Array(1_000_000).fill(0) });
    expect(inputCount(spec.inputs)).toBe(1_000_000);
  });

  it('rejects an array of 1,000,001 elements, saying how many it has and the limit', () => {
    const message = rejected({ ...base, inputs: new Array(1_000_001).fill(0) });
    expect(message).toBe('inputs has 1000001 elements; an inputs array may hold at most 1000000');
  });

  it.each([
    ['a number', 5],
    ['a string', '[1,2]'],
    ['null', null],
    ['a boolean', true],
  ])('rejects inputs that are %s, saying what shapes are allowed', (_label, inputs) => {
    expect(rejected({ ...base, inputs })).toBe('inputs must be a JSON array or {"range": {"start", "end", "step"}}');
  });

  it('rejects an object without range, saying range is required', () => {
    expect(rejected({ ...base, inputs: {} })).toBe('inputs.range is required');
  });
});

describe('parseJobSpec inputs as a range', () => {
  it('defaults step to 1', () => {
    expect(accepted(withRange({ start: 0, end: 10 })).inputs).toEqual({
      kind: 'range',
      range: { start: 0, end: 10, step: 1 },
    });
  });

  it('accepts negative starts and ends', () => {
    const spec = accepted(withRange({ start: -10, end: -4, step: 3 }));
    expect(spec.inputs).toEqual({ kind: 'range', range: { start: -10, end: -4, step: 3 } });
    expect(inputCount(spec.inputs)).toBe(2);
  });

  it.each([
    ['equal to start', 5, 5],
    ['below start', 5, 4],
  ])('rejects an end %s', (_label, start, end) => {
    expect(rejected(withRange({ start, end }))).toContain('inputs.range.end must be greater than start');
  });

  it.each([
    ['0', 0],
    ['-1', -1],
    ['-5', -5],
  ])('rejects a step of %s, saying it must be a positive integer', (_label, step) => {
    expect(rejected(withRange({ start: 0, end: 10, step }))).toBe('inputs.range.step must be a positive integer');
  });

  it.each([
    ['1.5', 1.5],
    ['the string "2"', '2'],
  ])('rejects a step of %s, saying it must be a positive integer', (_label, step) => {
    expect(rejected(withRange({ start: 0, end: 10, step }))).toBe('inputs.range.step must be a positive integer');
  });

  it.each([
    ['a start of 0.5', 'start', { start: 0.5, end: 10 }],
    ['an end of 10.5', 'end', { start: 0, end: 10.5 }],
    ['a start given as the string "0"', 'start', { start: '0', end: 10 }],
  ])('rejects %s, saying it must be an integer', (_label, field, range) => {
    expect(rejected(withRange(range))).toBe(`inputs.range.${field} must be an integer`);
  });

  it.each([
    ['start', { end: 10 }],
    ['end', { start: 0 }],
  ])('rejects a range without %s, saying it is required', (field, range) => {
    expect(rejected(withRange(range))).toBe(`inputs.range.${field} is required`);
  });

  it.each([
    ['with step 1', { start: 0, end: 10_000_000 }],
    ['with step 3', { start: 7, end: 7 + 30_000_000, step: 3 }],
    ['whose last step is partial', { start: 0, end: 29_999_998, step: 3 }],
    ['far from zero', { start: -5_000_000, end: 5_000_000 }],
  ])('accepts a range of exactly 10,000,000 inputs %s', (_label, range) => {
    const spec = accepted(withRange(range));
    expect(inputCount(spec.inputs)).toBe(10_000_000);
  });

  it.each([
    ['with step 1', { start: 0, end: 10_000_001 }],
    ['with step 3', { start: 0, end: 30_000_001, step: 3 }],
  ])('rejects a range of 10,000,001 inputs %s, saying the count and the limit', (_label, range) => {
    expect(rejected(withRange(range))).toBe('inputs.range holds 10000001 inputs; a range may hold at most 10000000');
  });

  it('accepts a range near the largest safe integers', () => {
    const start = Number.MAX_SAFE_INTEGER - 100;
    const spec = accepted(withRange({ start, end: Number.MAX_SAFE_INTEGER, step: 7 }));
    expect(inputCount(spec.inputs)).toBe(15);
  });

  it('rejects a start beyond the safe integers', () => {
    expect(rejected(withRange({ start: 2 ** 60, end: 2 ** 60 + 4096 }))).toContain('inputs.range.start');
  });

  it('rejects an unknown key inside range, naming it with its path', () => {
    expect(rejected(withRange({ start: 0, end: 10, foo: 1 }))).toBe('unknown field "inputs.range.foo"');
  });

  it('rejects an unknown key next to range, naming it with its path', () => {
    expect(rejected({ ...base, inputs: { range: { start: 0, end: 10 }, foo: 1 } })).toBe('unknown field "inputs.foo"');
  });

  it('rejects a range that is not an object', () => {
    expect(rejected({ ...base, inputs: { range: [0, 10] } })).toMatch(/^inputs\.range /);
  });
});

describe('parseJobSpec reduce', () => {
  it.each(REDUCERS.map((r) => [r]))('accepts reduce "%s"', (reduce) => {
    expect(accepted({ ...base, reduce }).reduce).toBe(reduce);
  });

  it.each([
    ['an unknown name', 'avg'],
    ['a different case', 'SUM'],
    ['a number', 1],
    ['null', null],
  ])('rejects reduce that is %s, listing the allowed values', (_label, reduce) => {
    expect(rejected({ ...base, reduce })).toBe(
      'reduce must be one of "collect", "sum", "min", "max", "mean", "count"',
    );
  });
});

describe('parseJobSpec timeoutMs', () => {
  it.each([100, 60000, 3_600_000])('accepts %s', (timeoutMs) => {
    expect(accepted({ ...base, timeoutMs }).timeoutMs).toBe(timeoutMs);
  });

  it.each([
    ['99', 99],
    ['3600001', 3_600_001],
    ['0', 0],
    ['-100', -100],
    ['1.5', 1.5],
    ['100.5', 100.5],
    ['the string "100"', '100'],
    ['null', null],
  ])('rejects %s, stating the integer range', (_label, timeoutMs) => {
    expect(rejected({ ...base, timeoutMs })).toBe('timeoutMs must be an integer from 100 to 3600000');
  });
});

describe('parseJobSpec maxAttempts', () => {
  it.each([1, 3, 20])('accepts %s', (maxAttempts) => {
    expect(accepted({ ...base, maxAttempts }).maxAttempts).toBe(maxAttempts);
  });

  it.each([
    ['0', 0],
    ['21', 21],
    ['-1', -1],
    ['2.5', 2.5],
    ['the string "3"', '3'],
  ])('rejects %s, stating the integer range', (_label, maxAttempts) => {
    expect(rejected({ ...base, maxAttempts })).toBe('maxAttempts must be an integer from 1 to 20');
  });
});

describe('parseJobSpec meta', () => {
  it('accepts nested JSON', () => {
    const meta = { view: 'image', size: { width: 600, height: 400 }, tags: ['a', null, true] };
    expect(accepted({ ...base, meta }).meta).toEqual(meta);
  });

  it.each([
    ['an array', []],
    ['null', null],
    ['a string', 'view=image'],
    ['a number', 4],
  ])('rejects meta that is %s, saying it must be a JSON object', (_label, meta) => {
    expect(rejected({ ...base, meta })).toBe('meta must be a JSON object');
  });

  // {"a":"<s>"} is 8 bytes plus the string.
  it('accepts meta of exactly 4096 bytes of JSON', () => {
    const meta = { a: 'x'.repeat(4096 - 8) };
    expect(JSON.stringify(meta)).toHaveLength(4096);
    expect(accepted({ ...base, meta }).meta).toEqual(meta);
  });

  it('rejects meta of 4097 bytes of JSON', () => {
    const meta = { a: 'x'.repeat(4096 - 7) };
    expect(rejected({ ...base, meta })).toBe('meta must be at most 4096 bytes of JSON');
  });

  it('counts meta in UTF-8 bytes', () => {
    // 2045 two-byte characters: 4090 bytes + 8 = 4098 bytes but only 2053 UTF-16 code units.
    const meta = { a: 'é'.repeat(2045) };
    expect(rejected({ ...base, meta })).toBe('meta must be at most 4096 bytes of JSON');
    expect(accepted({ ...base, meta: { a: 'é'.repeat(2044) } }).meta).toEqual({ a: 'é'.repeat(2044) });
  });
});

describe('inputCount', () => {
  it.each<[JobInputs, number]>([
    [{ kind: 'array', values: [1] }, 1],
    [{ kind: 'array', values: [null, 'a', [], {}] }, 4],
    [{ kind: 'range', range: { start: 0, end: 10, step: 1 } }, 10],
    [{ kind: 'range', range: { start: 0, end: 10, step: 3 } }, 4],
    [{ kind: 'range', range: { start: -3, end: 3, step: 2 } }, 3],
  ])('counts %j as %i inputs', (inputs, n) => {
    expect(inputCount(inputs)).toBe(n);
  });
});

describe('parseJobSpec result verification', () => {
  it('defaults to k = 2 and quorum k when only verify is given', () => {
    expect(accepted({ ...base, verify: 'replicate' })).toMatchObject({ verify: 'replicate', replication: 2, quorum: 2, tolerance: 0 });
    expect(accepted({ ...base, verify: 'adaptive' })).toMatchObject({ verify: 'adaptive', replication: 2, quorum: 2 });
  });

  it('takes replication alone to mean replicate, with quorum k', () => {
    expect(accepted({ ...base, replication: 3 })).toMatchObject({ verify: 'replicate', replication: 3, quorum: 3 });
  });

  it.each([
    [{ verify: 'check' }, 'verify must be one of "none", "replicate", "adaptive"'],
    [{ verify: 'replicate', replication: 6 }, 'replication must be an integer from 1 to 5'],
    [{ verify: 'replicate', replication: 0 }, 'replication must be an integer from 1 to 5'],
    [{ verify: 'adaptive', replication: 1 }, 'replication must be from 2 to 5 when verify is "adaptive" (one run checks nothing)'],
    [{ verify: 'replicate', replication: 2.5 }, 'replication must be an integer from 1 to 5'],
    [{ verify: 'replicate', replication: 3, quorum: 4 }, 'quorum must be from 1 to replication (3); it is 4'],
    [{ verify: 'replicate', quorum: 0 }, 'quorum must be an integer from 1 to 5'],
    [{ verify: 'none', replication: 2 }, 'replication must be 1 when verify is "none"'],
    [{ quorum: 2 }, 'quorum must be 1 when verify is "none"'],
    [{ verify: 'replicate', tolerance: -1 }, 'tolerance must be a number from 0 to 1'],
    [{ verify: 'replicate', tolerance: '0.1' }, 'tolerance must be a number from 0 to 1'],
  ])('rejects %j: %s', (fields, message) => {
    expect(rejected({ ...base, ...fields })).toBe(message);
  });
});

describe('parseJobSpec work modules and shared files', () => {
  const hex = 'ab'.repeat(32);
  const other = 'cd'.repeat(32);

  it('takes a bundle instead of code, and shared files as plain references or with "as"', () => {
    const spec = accepted({
      bundle: `sha256:${hex}`,
      inputs: [1],
      shared: { table: `sha256:${other}`, config: { blob: `sha256:${hex}`, as: 'json' }, raw: { blob: `sha256:${other}` } },
    });
    expect(spec.code).toBeNull();
    expect(spec.bundle).toBe(hex);
    expect(spec.shared).toEqual([
      { name: 'table', blob: other, as: 'bytes' },
      { name: 'config', blob: hex, as: 'json' },
      { name: 'raw', blob: other, as: 'bytes' },
    ]);
  });

  it('lets inline code have shared files too', () => {
    expect(accepted({ ...base, shared: { t: `sha256:${hex}` } }).shared).toEqual([{ name: 't', blob: hex, as: 'bytes' }]);
  });

  it('requires exactly one of code and bundle', () => {
    expect(rejected({ inputs: [1] })).toMatch(/^code is required \(or bundle/);
    expect(rejected({ ...base, bundle: `sha256:${hex}` })).toBe('give code or bundle, not both');
  });

  it('names the field and the problem of a bad reference', () => {
    expect(rejected({ bundle: hex, inputs: [1] })).toMatch(/^bundle must be "sha256:" followed by the 64 lowercase hex digits/);
    expect(rejected({ bundle: `sha256:${hex.toUpperCase()}`, inputs: [1] })).toMatch(/^bundle must be/);
    expect(rejected({ ...base, shared: { t: 'sha256:abc' } })).toMatch(/^shared\.t must be "sha256:HEX"/);
    expect(rejected({ ...base, shared: { t: { blob: `sha256:${hex}`, as: 'text' } } })).toBe('shared.t.as must be "bytes" or "json"');
    expect(rejected({ ...base, shared: { t: { blob: `sha256:${hex}`, mode: 1 } } })).toMatch(/^shared\.t has an unknown field "mode"/);
    expect(rejected({ ...base, shared: { 'a b': `sha256:${hex}` } })).toMatch(/^shared\.a b is not a valid name/);
    expect(rejected({ ...base, shared: [`sha256:${hex}`] })).toMatch(/^shared must be a JSON object/);
  });

  it('caps the number of shared files', () => {
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`f${i}`, `sha256:${hex}`]));
    expect(rejected({ ...base, shared: many })).toBe('shared names 33 files; a job may share at most 32');
  });
});
