/**
 * Inline work functions (`hub.run((n) => n * n, ...)`): their source is what travels, so a function
 * that uses a variable from outside it (a closure) would fail on every device. The SDK parses the
 * source (acorn), finds the names it does not declare (eslint-scope) and refuses any that is not a
 * standard global, naming it, before anything is submitted.
 */
import { runInNewContext } from 'node:vm';
import { parseExpressionAt } from 'acorn';
import { analyze } from 'eslint-scope';
import { BuildError } from './errors.ts';
import { NETWORK_GLOBALS } from './build.ts';

/** What every runtime of job code has besides ECMAScript's built-ins (a Web Worker; the Node agent's context gives these too). */
const WORKER_GLOBALS = ['console', 'performance', 'TextEncoder', 'TextDecoder', 'WebAssembly', 'globalThis', 'undefined', 'arguments'];

let standardGlobals: Set<string> | null = null;
/** ECMAScript's global names, read from a fresh context (which holds exactly those), plus what workers add. */
function allowedGlobals(): Set<string> {
  standardGlobals ??= new Set([...(runInNewContext('Object.getOwnPropertyNames(globalThis)') as string[]), ...WORKER_GLOBALS]);
  return standardGlobals;
}

/** The source of a function as a function expression: method shorthand (`f(x) {}`) becomes `function f(x) {}`. */
function asExpression(source: string): string {
  const method = /^(async\s+)?(\*\s*)?([A-Za-z_$][\w$]*)\s*\(/.exec(source);
  if (method && method[3] !== 'function' && !/^(async\s+)?function\b/.test(source)) {
    return `${method[1] ?? ''}function${method[2] ? '*' : ''} ${source.slice(method[0].length - 1 - method[3]!.length).trimStart()}`;
  }
  return source;
}

/**
 * The source to submit for an inline work function: a function expression that uses nothing from
 * outside it but standard globals. Throws `BuildError` naming the first variable from outside.
 */
export function inlineFunctionSource(fn: (...args: never[]) => unknown): string {
  const raw = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(raw)) {
    throw new BuildError('the work function is a built-in or bound function, whose source cannot be sent; write it out, or use a work module', null, null);
  }
  if (/^class\b/.test(raw)) throw new BuildError('the work is a class; give a function (input, ctx) => value', null, null);
  const source = asExpression(raw);
  let ast;
  try {
    ast = parseExpressionAt(source, 0, { ecmaVersion: 'latest', sourceType: 'script', locations: true, ranges: true });
  } catch (err) {
    throw new BuildError(`the work function's source does not parse on its own (${(err as Error).message}); use a work module instead`, null, null);
  }
  const statement = { type: 'ExpressionStatement', expression: ast, start: ast.start, end: ast.end, range: [ast.start, ast.end] };
  const program = { type: 'Program', sourceType: 'script', body: [statement], start: 0, end: source.length, range: [0, source.length] };
  const scopes = analyze(program as never, { ecmaVersion: 2022, sourceType: 'script' });
  const allowed = allowedGlobals();
  for (const ref of scopes.globalScope?.through ?? []) {
    const id = ref.identifier as unknown as { name: string; loc?: { start: { line: number; column: number } } };
    if (allowed.has(id.name)) continue;
    const line = id.loc?.start.line ?? null;
    const column = id.loc ? id.loc.start.column + 1 : null;
    if (NETWORK_GLOBALS.includes(id.name)) {
      throw new BuildError(`the work function uses ${id.name}, which job code cannot use: it runs without network`, null, line, column);
    }
    throw new BuildError(
      `the work function uses "${id.name}", a variable from outside it (line ${line ?? '?'} of the function); ` +
        'job code runs on other machines and sees only its input and ctx. Pass the value as an input, or as shared data: ' +
        `hub.run(fn, inputs, { shared: { ${id.name} } }) and read ctx.shared.${id.name} (or put the code in a work module)`,
      null,
      line,
      column,
    );
  }
  return source;
}
