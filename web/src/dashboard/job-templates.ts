// Example jobs that fill the submit form: squares, Monte Carlo π, prime counting and a Mandelbrot image.
import type { JsonValue, Reducer } from '@edgeswarm/shared';

export interface JobTemplate {
  id: 'squares' | 'pi' | 'primes' | 'mandelbrot';
  label: string;
  name: string;
  code: string;
  range: { start: number; end: number; step: number };
  reduce: Reducer;
  meta: Record<string, JsonValue>;
}

const squares = `(n) => n * n`;

const pi = `(seed) => {
  // mulberry32: a tiny seeded PRNG, so each input gives the same estimate wherever it runs
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const samples = 200000;
  let inside = 0;
  for (let i = 0; i < samples; i++) {
    const x = random();
    const y = random();
    if (x * x + y * y <= 1) inside++;
  }
  return (4 * inside) / samples;
}`;

const primes = `(block) => {
  // Counts the primes in [block * 100000, (block + 1) * 100000) with a segmented sieve.
  const size = 100000;
  const lo = block * size;
  const hi = lo + size;
  const limit = Math.floor(Math.sqrt(hi));
  const small = [];
  const marked = new Uint8Array(limit + 1);
  for (let i = 2; i <= limit; i++) {
    if (marked[i]) continue;
    small.push(i);
    for (let j = i * i; j <= limit; j += i) marked[j] = 1;
  }
  const composite = new Uint8Array(size);
  for (const p of small) {
    for (let m = Math.max(p * p, Math.ceil(lo / p) * p); m < hi; m += p) composite[m - lo] = 1;
  }
  let count = 0;
  for (let i = 0; i < size; i++) if (lo + i >= 2 && !composite[i]) count++;
  return count;
}`;

export const MANDELBROT = { width: 600, height: 400, maxIter: 200 } as const;

const mandelbrot = `(y) => {
  // One row of the Mandelbrot set: iteration counts for x in [-2.5, 1), y in [-1.25, 1.25)
  const width = ${MANDELBROT.width};
  const height = ${MANDELBROT.height};
  const maxIter = ${MANDELBROT.maxIter};
  const ci = -1.25 + ((y + 0.5) * 2.5) / height;
  const row = new Array(width);
  for (let x = 0; x < width; x++) {
    const cr = -2.5 + ((x + 0.5) * 3.5) / width;
    let zr = 0;
    let zi = 0;
    let i = 0;
    while (i < maxIter && zr * zr + zi * zi <= 4) {
      const t = zr * zr - zi * zi + cr;
      zi = 2 * zr * zi + ci;
      zr = t;
      i++;
    }
    row[x] = i;
  }
  return row;
}`;

/** The template the submit form starts with. */
export const SQUARES_TEMPLATE: JobTemplate = {
  id: 'squares',
  label: 'Squares of 0…9999',
  name: 'squares',
  code: squares,
  range: { start: 0, end: 10_000, step: 1 },
  reduce: 'collect',
  meta: {},
};

export const JOB_TEMPLATES: readonly JobTemplate[] = [
  SQUARES_TEMPLATE,
  {
    id: 'pi',
    label: 'Monte Carlo π',
    name: 'monte carlo pi',
    code: pi,
    range: { start: 0, end: 200, step: 1 },
    reduce: 'mean',
    meta: {},
  },
  {
    id: 'primes',
    label: 'Count primes below 10 million',
    name: 'prime count',
    code: primes,
    range: { start: 0, end: 100, step: 1 },
    reduce: 'sum',
    meta: {},
  },
  {
    id: 'mandelbrot',
    label: 'Mandelbrot image',
    name: 'mandelbrot',
    code: mandelbrot,
    range: { start: 0, end: MANDELBROT.height, step: 1 },
    reduce: 'collect',
    meta: { view: 'image', ...MANDELBROT },
  },
];

export function findTemplate(id: string): JobTemplate | undefined {
  return JOB_TEMPLATES.find((t) => t.id === id);
}
