import { describe, expect, it } from 'vitest';
import { compileJobFunction, parseJobSpec, rangeAt, rangeLength } from '@edgeswarm/shared';
import { buildJobSpec, formFromTemplate } from './job-form.ts';
import { JOB_TEMPLATES, MANDELBROT, findTemplate, type JobTemplate } from './job-templates.ts';

function compiled(id: JobTemplate['id']): (input: unknown) => unknown {
  const template = findTemplate(id);
  if (!template) throw new Error(`no template ${id}`);
  return compileJobFunction(template.code);
}

describe('job templates', () => {
  it('squares: 7 → 49', () => {
    expect(compiled('squares')(7)).toBe(49);
    expect(compiled('squares')(0)).toBe(0);
  });

  it('primes: block 0 holds the 9592 primes below 100000, blocks 0–9 the 78498 below a million', () => {
    const count = compiled('primes');
    expect(count(0)).toBe(9592);
    let sum = 0;
    for (let block = 0; block < 10; block++) sum += count(block) as number;
    expect(sum).toBe(78_498);
  });

  it('pi: each seed gives a repeatable estimate near π, and seeds differ', () => {
    const pi = compiled('pi');
    const a = pi(1) as number;
    expect(pi(1)).toBe(a);
    expect(Math.abs(a - Math.PI)).toBeLessThan(0.02);
    expect(pi(2)).not.toBe(a);
    let mean = 0;
    for (let seed = 0; seed < 20; seed++) mean += (pi(seed) as number) / 20;
    expect(Math.abs(mean - Math.PI)).toBeLessThan(0.005);
  });

  it('mandelbrot: a row of 600 iteration counts; the middle row reaches the set', () => {
    const row = compiled('mandelbrot');
    const middle = row(MANDELBROT.height / 2) as number[];
    expect(middle).toHaveLength(MANDELBROT.width);
    expect(Math.max(...middle)).toBe(MANDELBROT.maxIter);
    const top = row(0) as number[];
    expect(top).toHaveLength(600);
    expect(Math.max(...top)).toBeLessThan(MANDELBROT.maxIter);
    expect(top.every((n) => Number.isInteger(n) && n >= 1)).toBe(true);
  });

  it('each template fills the form with a spec the hub accepts', () => {
    for (const template of JOB_TEMPLATES) {
      const built = buildJobSpec(formFromTemplate(template));
      expect(built.ok).toBe(true);
      if (!built.ok) continue;
      const parsed = parseJobSpec(built.spec);
      expect(parsed).toMatchObject({ ok: true });
      if (parsed.ok && parsed.value.inputs.kind === 'range') {
        const { range } = parsed.value.inputs;
        expect(rangeAt(range, 0)).toBe(template.range.start);
        expect(rangeLength(range)).toBe((template.range.end - template.range.start) / template.range.step);
      }
    }
  });

  it('mandelbrot asks for the image view at its own size', () => {
    expect(findTemplate('mandelbrot')?.meta).toEqual({ view: 'image', width: 600, height: 400, maxIter: 200 });
    expect(findTemplate('mandelbrot')?.range).toEqual({ start: 0, end: 400, step: 1 });
  });
});
