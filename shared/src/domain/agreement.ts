/**
 * When two devices' results for one input agree: the same JSON up to key order (the canonical form
 * of RFC 8785 compares equal), with numbers equal within a relative tolerance.
 */
import type { JsonValue } from './job.ts';

/** `|a - b| <= tolerance * max(|a|, |b|)`; with tolerance 0, exactly equal (and 0 equals -0). */
export function numbersAgree(a: number, b: number, tolerance: number): boolean {
  if (a === b) return true;
  return tolerance > 0 && Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b));
}

/** Compares two JSON values; iterative, so deeply nested results cannot overflow the stack. */
export function resultsAgree(left: JsonValue, right: JsonValue, tolerance: number): boolean {
  const stack: [JsonValue, JsonValue][] = [[left, right]];
  while (stack.length > 0) {
    const [a, b] = stack.pop() as [JsonValue, JsonValue];
    if (typeof a === 'number' || typeof b === 'number') {
      if (typeof a !== 'number' || typeof b !== 'number' || !numbersAgree(a, b, tolerance)) return false;
      continue;
    }
    if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
      if (a !== b) return false;
      continue;
    }
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) stack.push([a[i] as JsonValue, b[i] as JsonValue]);
      continue;
    }
    const ao = a as Record<string, JsonValue>;
    const bo = b as Record<string, JsonValue>;
    const keys = Object.keys(ao);
    if (keys.length !== Object.keys(bo).length) return false;
    for (const key of keys) {
      if (!Object.hasOwn(bo, key)) return false;
      stack.push([ao[key] as JsonValue, bo[key] as JsonValue]);
    }
  }
  return true;
}

/**
 * Splits results into groups that agree with each group's first member, in order of arrival
 * (tolerance makes agreement non-transitive, so the first result of a group is its reference).
 * Returns the indexes of `values` per group, largest group first (earlier group on ties).
 */
export function agreeingGroups(values: readonly JsonValue[], tolerance: number): number[][] {
  const groups: number[][] = [];
  for (let i = 0; i < values.length; i++) {
    const home = groups.find((g) => resultsAgree(values[g[0] as number] as JsonValue, values[i] as JsonValue, tolerance));
    if (home) home.push(i);
    else groups.push([i]);
  }
  return groups.map((g, order) => ({ g, order })).sort((x, y) => y.g.length - x.g.length || x.order - y.order).map((x) => x.g);
}
