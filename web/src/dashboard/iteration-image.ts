// Pixels for the dashboard's image view: rows of iteration counts (Mandelbrot-style results) to RGBA with a colour map.
import type { JsonValue } from '@edgeswarm/shared';

export interface ImageSize {
  width: number;
  height: number;
  maxIter: number;
}

const positiveInt = (v: JsonValue | undefined): number | null =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 10_000 ? v : null;

/** Size from the job's meta, falling back to what the results themselves show. */
export function imageSize(meta: Record<string, JsonValue>, rows: readonly JsonValue[]): ImageSize {
  const widest = rows.reduce<number>((w, row) => (Array.isArray(row) ? Math.max(w, row.length) : w), 0);
  let highest = 0;
  for (const row of rows) {
    if (!Array.isArray(row)) continue;
    for (const v of row) if (typeof v === 'number' && v > highest) highest = v;
  }
  return {
    width: positiveInt(meta['width']) ?? Math.max(widest, 1),
    height: positiveInt(meta['height']) ?? Math.max(rows.length, 1),
    maxIter: positiveInt(meta['maxIter']) ?? Math.max(highest, 1),
  };
}

/** Points that never escaped are black; the rest go from deep blue through orange to white. */
export function colourFor(iterations: number, maxIter: number): [number, number, number] {
  if (!(iterations < maxIter)) return [0, 0, 0];
  const t = Math.sqrt(Math.max(iterations, 0) / maxIter);
  const r = Math.round(255 * Math.min(1, 9 * (1 - t) * t * t * t * 1.7 + t * t));
  const g = Math.round(255 * Math.min(1, 15 * (1 - t) * (1 - t) * t * t + t * t * 0.6));
  const b = Math.round(255 * Math.min(1, 8.5 * (1 - t) * (1 - t) * (1 - t) * t + 0.25 * t));
  return [r, g, b];
}

/** RGBA pixels, row `y` from `rows[y]`; missing rows and non-numbers stay transparent. */
export function renderIterationRows(rows: readonly JsonValue[], size: ImageSize): Uint8ClampedArray<ArrayBuffer> {
  const { width, height, maxIter } = size;
  const pixels = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = rows[y];
    if (!Array.isArray(row)) continue;
    for (let x = 0; x < width; x++) {
      const v = row[x];
      if (typeof v !== 'number') continue;
      const [r, g, b] = colourFor(v, maxIter);
      const at = (y * width + x) * 4;
      pixels[at] = r;
      pixels[at + 1] = g;
      pixels[at + 2] = b;
      pixels[at + 3] = 255;
    }
  }
  return pixels;
}
