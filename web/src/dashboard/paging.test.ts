import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lastPageOffset, pageInfo, pollPage, type LoadedPage } from './paging.ts';

describe('pageInfo', () => {
  it('shows the rows of the page and the total', () => {
    expect(pageInfo(0, 50, 50, 1234)).toBe('1–50 of 1,234');
    expect(pageInfo(50, 50, 50, 1234)).toBe('51–100 of 1,234');
    expect(pageInfo(1200, 34, 50, 1234)).toBe('1,201–1,234 of 1,234');
    expect(pageInfo(0, 3, 50, 3)).toBe('1–3 of 3');
  });

  it('shows the page’s span while its rows load, and 0 of 0 when empty', () => {
    expect(pageInfo(100, null, 100, 10_000)).toBe('101–200 of 10,000');
    expect(pageInfo(9_900, null, 100, 9_950)).toBe('9,901–9,950 of 9,950');
    expect(pageInfo(0, 0, 50, 0)).toBe('0 of 0');
    expect(pageInfo(0, null, 50, 0)).toBe('0 of 0');
  });

  it('never shows a total below the rows on screen (a total from an older snapshot)', () => {
    expect(pageInfo(0, 50, 50, 40)).toBe('1–50 of 50');
  });
});

describe('lastPageOffset', () => {
  it('is the start of the last page with rows', () => {
    expect(lastPageOffset(0, 50)).toBe(0);
    expect(lastPageOffset(1, 50)).toBe(0);
    expect(lastPageOffset(50, 50)).toBe(0);
    expect(lastPageOffset(51, 50)).toBe(50);
    expect(lastPageOffset(10_000, 100)).toBe(9_900);
  });
});

describe('pollPage', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('loads at once, then again after each answer, and stops', async () => {
    const calls: Array<[number, number]> = [];
    const pages: number[] = [];
    let n = 0;
    const load = (offset: number, limit: number): Promise<LoadedPage<number>> => {
      calls.push([offset, limit]);
      return Promise.resolve({ total: 500 + n++, items: [offset] });
    };
    const stop = pollPage(load, 100, 50, 2000, { page: (p) => pages.push(p.total), error: () => undefined });
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([[100, 50]]);
    expect(pages).toEqual([500]);
    await vi.advanceTimersByTimeAsync(1999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(pages).toEqual([500, 501]);
    stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(2);
  });

  it('never has two requests out, and keeps trying after an error', async () => {
    let pending = 0;
    let most = 0;
    const errors: unknown[] = [];
    let n = 0;
    const load = async (): Promise<LoadedPage<number>> => {
      pending++;
      most = Math.max(most, pending);
      await new Promise((resolve) => setTimeout(resolve, 5000)); // slower than the interval
      pending--;
      if (n++ === 0) throw new Error('hub down');
      return { total: 1, items: [1] };
    };
    const pages: number[] = [];
    const stop = pollPage(load, 50, 50, 2000, { page: (p) => pages.push(p.total), error: (e) => errors.push(e) });
    await vi.advanceTimersByTimeAsync(20_000);
    stop();
    expect(most).toBe(1);
    expect(errors).toHaveLength(1);
    expect(pages.length).toBeGreaterThan(0);
  });

  it('reports nothing once stopped, even an answer already on its way', async () => {
    let resolve: (page: LoadedPage<number>) => void = () => undefined;
    const load = () => new Promise<LoadedPage<number>>((r) => (resolve = r));
    const pages: number[] = [];
    const stop = pollPage(load, 50, 50, 2000, { page: (p) => pages.push(p.total), error: () => undefined });
    stop();
    resolve({ total: 3, items: [] });
    await vi.advanceTimersByTimeAsync(5000);
    expect(pages).toEqual([]);
  });
});
