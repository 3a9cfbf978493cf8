import { describe, expect, it } from 'vitest';
import { findJsonShapeProblem } from './json-shape.ts';
import { parseJobSpec } from './job-spec.ts';
import { rangeAt } from './range.ts';
import { truncate } from './text.ts';

const nested = (depth: number): unknown => {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe('findJsonShapeProblem', () => {
  it('accepts nesting up to the limit and reports the path just past it', () => {
    expect(findJsonShapeProblem(nested(5), 5)).toBeNull();
    expect(findJsonShapeProblem(nested(6), 5)).toEqual({ path: '[0][0][0][0][0]', problem: 'nests arrays and objects more than 5 levels deep' });
  });

  it('walks 200,000 levels without overflowing the stack', () => {
    expect(findJsonShapeProblem(nested(200_000), 100)?.problem).toMatch(/more than 100 levels/);
  });

  it('finds a __proto__ key only when asked to', () => {
    const value = JSON.parse('{"a": {"__proto__": {"x": 1}}}') as unknown;
    expect(findJsonShapeProblem(value, 10)).toBeNull();
    expect(findJsonShapeProblem(value, 10, true)).toEqual({ path: '.a.__proto__', problem: 'is a "__proto__" key, which is not allowed' });
  });
});

describe('parseJobSpec on hostile JSON', () => {
  it('rejects inputs nested 200,000 deep with a message naming the field', () => {
    const parsed = parseJobSpec({ code: '(x) => x', inputs: [nested(200_000)] });
    expect(parsed).toEqual({ ok: false, message: expect.stringMatching(/^inputs\[0\](\[0\])* nests arrays and objects more than 100 levels deep$/) });
  });

  it('rejects meta nested too deep and meta with a __proto__ key', () => {
    expect(parseJobSpec({ code: '(x) => x', inputs: [1], meta: { a: nested(200) } })).toMatchObject({ ok: false, message: expect.stringMatching(/^meta\.a/) });
    const withProto = JSON.parse('{"code": "(x) => x", "inputs": [1], "meta": {"__proto__": {"a": 1}}}') as unknown;
    expect(parseJobSpec(withProto)).toEqual({ ok: false, message: 'meta.__proto__ is a "__proto__" key, which is not allowed' });
  });
});

describe('rangeAt at the edges of safe integers', () => {
  it('computes exact inputs when index * step leaves the safe range', () => {
    const range = { start: -9007199254740991, end: 9007199254740991, step: 4503599627370497 };
    expect(rangeAt(range, 3)).toBe(Number(BigInt(range.start) + 3n * BigInt(range.step)));
    expect(rangeAt(range, 3)).toBe(4503599627370500);
  });
});

describe('truncate', () => {
  it('keeps short text and cuts long text to the limit, saying how much was cut', () => {
    expect(truncate('short', 10)).toBe('short');
    const cut = truncate('x'.repeat(5000), 2000);
    expect(cut.length).toBeLessThanOrEqual(2000);
    expect(cut).toMatch(/more characters\)$/);
  });
});
