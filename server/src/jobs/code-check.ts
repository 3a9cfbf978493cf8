/** Checks job code at submission by parsing it (never running it): it must be one JavaScript function expression. */
import { parseExpressionAt, type Node } from 'acorn';

export type CodeCheck = { ok: true } | { ok: false; message: string };

/**
 * Parses `code` as an expression (ES2024 syntax) and requires the whole text to be one arrow
 * function or function expression. Syntax errors carry the parser's message and line:column.
 */
export function checkJobCode(code: string): CodeCheck {
  let node: Node;
  try {
    node = parseExpressionAt(code, 0, { ecmaVersion: 2024, sourceType: 'script', locations: true, preserveParens: true });
  } catch (err) {
    const e = err as SyntaxError & { loc?: { line: number; column: number } };
    const where = e.loc ? ` at line ${e.loc.line}, column ${e.loc.column + 1}` : '';
    return { ok: false, message: `code has a syntax error${where}: ${e.message.replace(/ \(\d+:\d+\)$/, '')}` };
  }
  const end = node.end;
  while (node.type === 'ParenthesizedExpression') node = (node as Node & { expression: Node }).expression;
  if (node.type !== 'ArrowFunctionExpression' && node.type !== 'FunctionExpression') {
    return { ok: false, message: `code must be a function expression such as "(n) => n * n", not a ${node.type}` };
  }
  const rest = code.slice(end);
  if (rest.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, '').trim() !== '') {
    return {
      ok: false,
      message: `code must be a single function expression; unexpected text after it at offset ${end}`,
    };
  }
  return { ok: true };
}
