import { describe, expect, it } from 'vitest';
import { checkJobCode } from './code-check.ts';

function rejection(code: string): string {
  const r = checkJobCode(code);
  if (r.ok) throw new Error(`expected ${JSON.stringify(code)} to be rejected`);
  return r.message;
}

describe('checkJobCode accepts one function expression', () => {
  it.each([
    ['an arrow function', '(n) => n * n'],
    ['an arrow function without parentheses', 'n => n + 1'],
    ['an arrow function with a block body', '(n) => {\n  const m = n * 2;\n  return m;\n}'],
    ['an async arrow function', 'async (n) => await Promise.resolve(n)'],
    ['a function expression', 'function (x) { return x; }'],
    ['an async function expression', 'async function (x) { return x * 2; }'],
    ['a named function expression', 'function square(x) { return x * x; }'],
    ['a generator function expression', 'function* (x) { yield x; }'],
    ['an async generator function expression', 'async function* (x) { yield x; }'],
    ['ES2024 syntax inside', '(xs) => xs?.map((x) => x ** 2) ?? [1_000n]'],
    ['surrounding whitespace', '\n\t  (n) => n  \n\n'],
    ['a leading comment', '/* squares */ (n) => n * n'],
    ['a trailing line comment', '(n) => n * n // squares'],
    ['a trailing block comment', '(n) => n * n /* squares */'],
    ['several trailing comments over lines', '(n) => n\n// one\n/* two\n three */ // four\n'],
  ])('accepts %s', (_label, code) => {
    expect(checkJobCode(code)).toEqual({ ok: true });
  });

  it('parses code without running it', () => {
    expect(checkJobCode('function () { throw new Error("ran"); }')).toEqual({ ok: true });
    expect(checkJobCode('() => { throw new Error("ran") }')).toEqual({ ok: true });
  });

  it.each([
    ['an arrow function whose body would throw', '(() => { throw new Error("ran") })'],
    ['an arrow function', '((n) => n * n)'],
    ['a function expression', '(function (x) { return x; })'],
  ])('accepts %s wrapped in parentheses', (_label, code) => {
    expect(checkJobCode(code)).toEqual({ ok: true });
  });
});

describe('checkJobCode rejects anything else', () => {
  it.each([
    ['a number', '42', 'Literal'],
    ['a string', '"x"', 'Literal'],
    ['an identifier', 'alert', 'Identifier'],
    ['a class expression', 'class { run() {} }', 'ClassExpression'],
    ['a call of a function', '((n) => n)(1)', 'CallExpression'],
    ['a sequence of two functions', 'n => n, m => m', 'SequenceExpression'],
    ['an object literal', '({ run: (n) => n })', 'ObjectExpression'],
  ])('rejects %s, naming what it got', (_label, code, type) => {
    expect(rejection(code)).toBe(`code must be a function expression such as "(n) => n * n", not a ${type}`);
  });

  it.each([
    ['a statement after a semicolon', 'n => n; alert(1)', 6],
    ['a second statement on the next line', 'function (x) { return x; }\nfetch("/")', 26],
    ['a stray closing parenthesis', 'n => n)', 6],
    ['text after a trailing comment', 'n => n /* c */ x', 6],
  ])('rejects %s, giving the offset', (_label, code, offset) => {
    expect(rejection(code)).toBe(
      `code must be a single function expression; unexpected text after it at offset ${offset}`,
    );
  });

  it('reports a syntax error with 1-based line and column of a multi-line input', () => {
    const code = '(n) => {\n  const x = 1;\n  retur n;\n}';
    // "retur n": the parser fails at "n" on line 3, column 9.
    const message = rejection(code);
    expect(message).toMatch(/^code has a syntax error at line 3, column 9: /);
    expect(message).toContain('line 3');
    expect(message).toContain('column 9');
  });

  it('reports an unterminated body at the end of the input', () => {
    expect(rejection('(n) => {\n  return n;\n')).toMatch(/^code has a syntax error at line 3, column 1: /);
  });

  it('reports a syntax error on the first line', () => {
    expect(rejection('(n) => n +* 2')).toBe('code has a syntax error at line 1, column 11: Unexpected token');
  });

  it('keeps the parser\'s message without its own (line:column) suffix', () => {
    const message = rejection('(n) => {\n  let a = 1; let a = 2;\n}');
    expect(message).toMatch(/^code has a syntax error at line 2, column \d+: Identifier 'a' has already been declared$/);
  });

  it.each([
    ['empty code', ''],
    ['only a comment', '// nothing'],
  ])('rejects %s as a syntax error', (_label, code) => {
    expect(rejection(code)).toMatch(/^code has a syntax error at line 1, column \d+: /);
  });
});
