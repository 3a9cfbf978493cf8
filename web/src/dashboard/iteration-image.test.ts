import { describe, expect, it } from 'vitest';
import { colourFor, imageSize, renderIterationRows } from './iteration-image.ts';

describe('iteration image', () => {
  it('paints points inside the set black and the rest in colour', () => {
    expect(colourFor(200, 200)).toEqual([0, 0, 0]);
    const outside = colourFor(20, 200);
    expect(outside.some((c) => c > 0)).toBe(true);
    expect(colourFor(5, 200)).not.toEqual(colourFor(150, 200));
  });

  it('renders row y from result y as opaque RGBA pixels', () => {
    const pixels = renderIterationRows([[200, 3], null, [1, 200]], { width: 2, height: 3, maxIter: 200 });
    expect(pixels).toHaveLength(2 * 3 * 4);
    expect([...pixels.slice(0, 4)]).toEqual([0, 0, 0, 255]);
    expect(pixels[7]).toBe(255);
    expect([...pixels.slice(8, 16)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]); // missing row stays transparent
    expect([...pixels.slice(20, 24)]).toEqual([0, 0, 0, 255]);
  });

  it('takes the size from meta, else from the results', () => {
    expect(imageSize({ width: 600, height: 400, maxIter: 200 }, [])).toEqual({ width: 600, height: 400, maxIter: 200 });
    expect(imageSize({}, [[1, 2, 9], [4]])).toEqual({ width: 3, height: 2, maxIter: 9 });
  });
});
