import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { compileBundle } from '@edgeswarm/shared';
import { buildWorkModule } from './build.ts';
import { BuildError } from './errors.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A folder with `files` (paths relative to it). */
function project(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-build-'));
  dirs.push(dir);
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), contents);
  }
  return dir;
}

async function buildError(path: string): Promise<BuildError> {
  const error = await buildWorkModule(path).catch((err: unknown) => err);
  if (!(error instanceof BuildError)) throw new Error(`expected a BuildError, got ${String(error)}`);
  return error;
}

const primesWasm = new URL('../../examples/wasm-primes/primes.wasm', import.meta.url).pathname;

describe('buildWorkModule', () => {
  it('bundles a TypeScript module with a local helper, an npm package and a .wasm file into one runnable script', async () => {
    const dir = project({
      'helper.ts': 'export const twice = (n: number): number => 2 * n;\n',
      'node_modules/tiny-lib/package.json': JSON.stringify({ name: 'tiny-lib', main: 'index.js' }),
      'node_modules/tiny-lib/index.js': 'exports.plusOne = (n) => n + 1;\n',
      'work.ts': [
        "import { twice } from './helper.ts';",
        "import { plusOne } from 'tiny-lib';",
        "import kernel from './primes.wasm';",
        'const { count } = new WebAssembly.Instance(kernel).exports as { count(lo: number, hi: number): number };',
        'export default (n: number, ctx: { shared: { k: number } }) => plusOne(twice(n)) + count(0, 100) + ctx.shared.k;',
      ].join('\n'),
    });
    copyFileSync(primesWasm, join(dir, 'primes.wasm'));
    const built = await buildWorkModule(join(dir, 'work.ts'));
    expect(built.hex).toMatch(/^[0-9a-f]{64}$/);
    const fn = compileBundle(new TextDecoder().decode(built.bytes), 'edgeswarm-bundle-test.js');
    // 2 * 5 + 1 + (25 primes below 100) + 100
    expect(fn(5, { shared: { k: 100 } })).toBe(136);
    expect(built.inputs.map((i) => i.path).sort()).toEqual(['helper.ts', 'node_modules/tiny-lib/index.js', 'primes.wasm', 'work.ts']);
    expect(JSON.parse(built.map).sources).toContain('work.ts');
  });

  it('gives the same bytes, so the same hash, wherever it runs from and wherever the project lives', async () => {
    const files = { 'work.js': "import k from './primes.wasm';\nexport default (n) => [n + 1, k];\n" };
    const dir = project(files);
    copyFileSync(primesWasm, join(dir, 'primes.wasm'));
    const elsewhere = project(files);
    copyFileSync(primesWasm, join(elsewhere, 'primes.wasm'));
    const first = await buildWorkModule(join(dir, 'work.js'));
    expect((await buildWorkModule(join(elsewhere, 'work.js'))).hex).toBe(first.hex);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect((await buildWorkModule('work.js')).hex).toBe(first.hex);
    } finally {
      process.chdir(cwd);
    }
    expect(new TextDecoder().decode(first.bytes)).not.toContain(dir);
  });

  it('refuses a Node built-in, naming the file, the line and the import', async () => {
    const dir = project({ 'work.ts': "const x = 1;\nimport { readFileSync } from 'node:fs';\nexport default () => readFileSync('/etc/passwd', 'utf8');\n" });
    const error = await buildError(join(dir, 'work.ts'));
    expect(error.file).toBe(relative(process.cwd(), join(dir, 'work.ts')));
    expect(error.line).toBe(2);
    expect(error.message).toMatch(/work\.ts:2:\d+: imports the Node\.js built-in "node:fs", which job code cannot use/);
    const plain = project({ 'work.js': "import path from 'path';\nexport default () => path.sep;\n" });
    expect((await buildError(join(plain, 'work.js'))).message).toContain('imports the Node.js built-in "path"');
  });

  it('refuses network APIs and code loaded at run time in the module, at their line', async () => {
    const dir = project({ 'work.ts': 'export default async (url: string) => {\n  const res = await fetch(url);\n  return res.status;\n};\n' });
    const error = await buildError(join(dir, 'work.ts'));
    expect(error.line).toBe(2);
    expect(error.message).toMatch(/work\.ts:2:\d+: uses fetch, which job code cannot use/);
    const ws = project({ 'lib.ts': 'export const open = () => new WebSocket("ws://x");\n', 'work.ts': "import { open } from './lib.ts';\nexport default () => open();\n" });
    expect((await buildError(join(ws, 'work.ts'))).message).toMatch(/lib\.ts:1:\d+: uses WebSocket/);
    const dynamic = project({ 'work.js': 'export default async (u) => (await import(u)).default;\n' });
    expect((await buildError(join(dynamic, 'work.js'))).message).toMatch(/loads code at run time with import\(\)/);
    const axios = project({ 'work.js': "import axios from 'axios';\nexport default () => axios;\n" });
    expect((await buildError(join(axios, 'work.js'))).message).toMatch(/imports "axios", a network library/);
  });

  it("lets a library mention fetch on paths job code need not take (only the module's own files are held to it)", async () => {
    const dir = project({
      'node_modules/maybe-net/package.json': JSON.stringify({ name: 'maybe-net', main: 'index.js' }),
      'node_modules/maybe-net/index.js': 'exports.get = (u) => (typeof fetch === "function" ? fetch(u) : null);\nexports.id = (x) => x;\n',
      'work.js': "import { id } from 'maybe-net';\nexport default (n) => id(n);\n",
    });
    await expect(buildWorkModule(join(dir, 'work.js'))).resolves.toMatchObject({ hex: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
  });

  it('reports syntax errors and unresolvable imports with file and line, and refuses other files', async () => {
    const dir = project({ 'work.ts': 'export default (n: number) => {\n  return n +;\n};\n' });
    const syntax = await buildError(join(dir, 'work.ts'));
    expect(syntax.line).toBe(2);
    expect(syntax.message).toMatch(/work\.ts:2:\d+: Unexpected ";"/);
    const missing = project({ 'work.js': "import x from './nope.js';\nexport default () => x;\n" });
    expect((await buildError(join(missing, 'work.js'))).message).toMatch(/work\.js:1:\d+: Could not resolve "\.\/nope\.js"/);
    expect((await buildError(join(dir, 'work.py'))).message).toMatch(/no such file/);
    const json = project({ 'work.json': '{}' });
    expect((await buildError(join(json, 'work.json'))).message).toMatch(/a work module is a \.ts, \.mts, \.js, \.mjs file/);
  });
});
