import { describe, expect, it } from 'vitest';
import { BuildError } from './errors.ts';
import { inlineFunctionSource } from './inline.ts';

function refusal(fn: (...args: never[]) => unknown): BuildError {
  try {
    inlineFunctionSource(fn);
  } catch (err) {
    if (err instanceof BuildError) return err;
    throw err;
  }
  throw new Error('expected the function to be refused');
}

describe('inline work functions', () => {
  it('accepts functions that use only their arguments, their own variables and standard globals', () => {
    expect(inlineFunctionSource((n: number) => n * n)).toBe('(n) => n * n');
    const source = inlineFunctionSource(async function (x: number, ctx: { shared: Record<string, unknown> }) {
      const table = ctx.shared['t'] as number[];
      const words = new TextDecoder().decode(new Uint8Array([104, 105]));
      return Math.max(x, table.length, JSON.stringify(words).length, performance.now() >= 0 ? 1 : 0);
    });
    expect(source.startsWith('async function')).toBe(true);
  });

  it('refuses a closure before submitting, naming the variable and suggesting shared', () => {
    const factor = 3;
    const error = refusal((n: number) => n * factor);
    expect(error.code).toBe('build_error');
    expect(error.message).toContain('the work function uses "factor", a variable from outside it');
    expect(error.message).toContain('shared: { factor }');
    expect(error.message).toContain('ctx.shared.factor');
    expect(error.file).toBeNull();
    expect(error.line).toBe(1);
  });

  it('finds an outside variable however deep it is used, and names the first', () => {
    const lookup = new Map<number, number>();
    const error = refusal((n: number) => {
      const inner = [n].map((v) => {
        const local = v + 1;
        return lookup.get(local) ?? local;
      });
      return inner[0];
    });
    expect(error.message).toContain('"lookup"');
    expect(error.line).toBe(4);
  });

  it('turns method shorthand into a function expression', () => {
    const object = {
      square(n: number) {
        return n * n;
      },
    };
    expect(inlineFunctionSource(object.square)).toMatch(/^function square\(n\)/);
  });

  it('refuses network globals, built-ins and classes with a reason', () => {
    expect(refusal(() => fetch('http://example.test')).message).toMatch(/uses fetch, which job code cannot use/);
    expect(refusal(Math.max).message).toMatch(/built-in or bound function/);
    expect(refusal(((n: number) => n).bind(null)).message).toMatch(/built-in or bound function/);
    expect(refusal(class {} as never).message).toMatch(/is a class/);
  });
});
