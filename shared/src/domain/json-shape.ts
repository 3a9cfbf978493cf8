/** Walks parsed JSON without recursion, so hostile nesting cannot overflow the stack of whoever checks it. */

export interface JsonShapeProblem {
  /** Path of the offending value, e.g. `[0].a`. */
  path: string;
  problem: string;
}

/**
 * Finds the first place where `value` nests arrays and objects deeper than `maxDepth`, or (when
 * `forbidProtoKey`) holds a `__proto__` key, which a plain-object copy would silently drop.
 */
export function findJsonShapeProblem(value: unknown, maxDepth: number, forbidProtoKey = false): JsonShapeProblem | null {
  const stack: { value: unknown; depth: number; path: string }[] = [{ value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const item = stack.pop();
    if (!item || item.value === null || typeof item.value !== 'object') continue;
    const depth = item.depth + 1;
    if (depth > maxDepth) {
      return { path: item.path, problem: `nests arrays and objects more than ${maxDepth} levels deep` };
    }
    if (Array.isArray(item.value)) {
      item.value.forEach((v, i) => stack.push({ value: v, depth, path: `${item.path}[${i}]` }));
      continue;
    }
    for (const key of Object.keys(item.value)) {
      const path = /^[A-Za-z_$][\w$]*$/.test(key) ? `${item.path}.${key}` : `${item.path}[${JSON.stringify(key)}]`;
      if (forbidProtoKey && key === '__proto__') return { path, problem: 'is a "__proto__" key, which is not allowed' };
      stack.push({ value: (item.value as Record<string, unknown>)[key], depth, path });
    }
  }
  return null;
}
