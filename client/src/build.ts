/**
 * Builds a work module (a .ts/.mts/.js/.mjs file whose default export is `(input, ctx) => value`)
 * and everything it imports (local files, npm packages beside it, `.wasm` files) into one CommonJS
 * script for a device's worker, with esbuild. The bytes are deterministic for the same sources, so
 * their SHA-256 names the bundle; the source map stays with the client, to put device errors back at
 * the module's own lines. Node built-ins, network APIs and code loaded at run time are build errors.
 */
import { createHash } from 'node:crypto';
import { builtinModules } from 'node:module';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, relative, resolve } from 'node:path';
import { build, type Message, type Metafile, type Plugin } from 'esbuild';
import { parse } from 'acorn';
import { analyze } from 'eslint-scope';
import { TraceMap, originalPositionFor } from '@jridgewell/trace-mapping';
import { limits } from '@edgeswarm/shared';
import { BuildError } from './errors.ts';

export const WORK_MODULE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'] as const;

/** Globals of a browser that reach the network or load code: job code runs without them, so using one is a build error. */
export const NETWORK_GLOBALS = ['fetch', 'XMLHttpRequest', 'WebSocket', 'WebSocketStream', 'EventSource', 'WebTransport', 'importScripts', 'RTCPeerConnection'];

/** Packages whose whole purpose is the network: importing one is a build error even where it would bundle. */
const NETWORK_PACKAGES = new Set(['axios', 'node-fetch', 'cross-fetch', 'isomorphic-fetch', 'undici', 'ws', 'socket.io-client', 'got', 'request', 'superagent']);

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

export interface BuiltModule {
  /** SHA-256 of the bundle's bytes (hex): the blob's name. */
  hex: string;
  bytes: Uint8Array;
  /** The source map (JSON), kept by the client; never uploaded. */
  map: string;
  /** The work module's path. */
  entry: string;
  /** Files that went into the bundle with their share of it in bytes, largest first. */
  inputs: { path: string; bytes: number }[];
}

/** `path:line:column` of an esbuild message, relative to the working directory. */
function where(message: Message, root: string): { file: string | null; line: number | null; column: number | null } {
  const loc = message.location;
  if (!loc) return { file: null, line: null, column: null };
  return { file: relative(process.cwd(), resolve(root, loc.file)), line: loc.line, column: loc.column + 1 };
}

function toBuildError(messages: Message[], root: string): BuildError {
  const first = messages[0];
  if (!first) return new BuildError('the build failed', null, null);
  const at = where(first, root);
  const position = at.file ? `${at.file}${at.line ? `:${at.line}:${at.column ?? 1}` : ''}: ` : '';
  const notes = first.notes.map((n) => n.text).filter((t) => t !== '');
  const more = messages.length > 1 ? ` (and ${messages.length - 1} more error${messages.length > 2 ? 's' : ''})` : '';
  return new BuildError(`${position}${first.text}${notes.length > 0 ? ` (${notes.join(' ')})` : ''}${more}`, at.file, at.line, at.column);
}

/** `.wasm` imports become a `WebAssembly.Module`, compiled once per worker when the bundle is evaluated; its bytes travel inside the bundle. */
const wasmPlugin: Plugin = {
  name: 'edgeswarm-wasm',
  setup(b) {
    const root = b.initialOptions.absWorkingDir ?? process.cwd();
    b.onResolve({ filter: /\.wasm$/ }, (args) => {
      if (args.namespace !== 'file') return undefined;
      const file = resolve(args.resolveDir, args.path);
      if (!existsSync(file)) return { errors: [{ text: `cannot find WebAssembly file "${args.path}"` }] };
      // Named relative to the module's folder: the bundle's bytes must not depend on where the project lives.
      return { path: relative(root, file), namespace: 'edgeswarm-wasm', pluginData: { file } };
    });
    b.onLoad({ filter: /.*/, namespace: 'edgeswarm-wasm' }, (args) => {
      const file = (args.pluginData as { file: string }).file;
      const base64 = readFileSync(file).toString('base64');
      // A decoder of our own: atob is not in every runtime job code meets (the Node agent's context).
      const contents = `const text = ${JSON.stringify(base64)};
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const value = new Uint8Array(128);
for (let i = 0; i < alphabet.length; i++) value[alphabet.charCodeAt(i)] = i;
const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
const bytes = new Uint8Array((text.length / 4) * 3 - padding);
for (let i = 0, j = 0; i < text.length; i += 4) {
  const n = (value[text.charCodeAt(i)] << 18) | (value[text.charCodeAt(i + 1)] << 12) | (value[text.charCodeAt(i + 2)] << 6) | value[text.charCodeAt(i + 3)];
  if (j < bytes.length) bytes[j++] = n >> 16;
  if (j < bytes.length) bytes[j++] = (n >> 8) & 255;
  if (j < bytes.length) bytes[j++] = n & 255;
}
export default new WebAssembly.Module(bytes);
`;
      return { contents, loader: 'js', resolveDir: dirname(file) };
    });
  },
};

/** Node built-ins and network packages imported from the user's own files are build errors that name the file and the import. */
const forbiddenImportsPlugin: Plugin = {
  name: 'edgeswarm-forbidden-imports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point' || args.importer.includes('/node_modules/')) return undefined;
      const name = args.path;
      if (NODE_BUILTINS.has(name)) {
        return { errors: [{ text: `imports the Node.js built-in "${name}", which job code cannot use: it runs in a browser's Web Worker or a sandbox without Node's modules, files or network` }] };
      }
      const pkg = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : (name.split('/')[0] ?? name);
      if (NETWORK_PACKAGES.has(pkg)) {
        return { errors: [{ text: `imports "${name}", a network library: job code has no network (give it what it needs as inputs or shared files)` }] };
      }
      return undefined;
    });
  },
};

interface Reference {
  name: string;
  offset: number;
}

/** Free uses of network globals, and `import()` left for run time, in the bundle's code. */
function forbiddenUses(code: string): Reference[] {
  const ast = parse(code, { ecmaVersion: 'latest', sourceType: 'script', allowHashBang: true, ranges: true });
  const found: Reference[] = [];
  const scopes = analyze(ast as never, { ecmaVersion: 2022, sourceType: 'script' });
  const global = scopes.globalScope;
  if (global) {
    for (const ref of global.through) {
      const id = ref.identifier as unknown as { name: string; start: number };
      if (NETWORK_GLOBALS.includes(id.name)) found.push({ name: id.name, offset: id.start });
    }
  }
  // import(...) that esbuild left in the bundle would load code at run time.
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    const n = node as { type?: string; start?: number };
    if (n.type === 'ImportExpression' && typeof n.start === 'number') found.push({ name: 'import()', offset: n.start });
    for (const [key, value] of Object.entries(node)) if (key !== 'loc' && value && typeof value === 'object') visit(value);
  };
  visit(ast);
  return found;
}

function lineColumn(code: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = code.indexOf('\n'); i >= 0 && i < offset; i = code.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart };
}

/** Builds the work module at `path`; throws `BuildError` naming the file and line at fault. */
export async function buildWorkModule(path: string): Promise<BuiltModule> {
  const entry = resolve(path);
  if (!existsSync(entry) || !statSync(entry).isFile()) throw new BuildError(`${path}: no such file`, path, null);
  if (!(WORK_MODULE_EXTENSIONS as readonly string[]).includes(extname(entry))) {
    throw new BuildError(`${path}: a work module is a ${WORK_MODULE_EXTENSIONS.join(', ')} file whose default export is the work function`, path, null);
  }
  // Paths in the bundle (comments, the map) are relative to the module's folder, so the bytes and
  // their hash do not depend on where the command runs.
  const root = dirname(entry);
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    write: false,
    outfile: 'work.js',
    format: 'cjs',
    platform: 'browser',
    target: 'es2022',
    conditions: ['worker', 'browser'],
    sourcemap: 'external',
    sourcesContent: true,
    metafile: true,
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [wasmPlugin, forbiddenImportsPlugin],
  }).catch((err: unknown) => {
    const errors = (err as { errors?: Message[] }).errors;
    if (Array.isArray(errors)) throw toBuildError(errors, root);
    throw new BuildError(`${path}: ${(err as Error).message}`, path, null);
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (!js || !map) throw new BuildError(`${path}: esbuild produced no bundle`, path, null);
  const code = js.text;
  checkUses(code, map.text, root);
  const bytes = js.contents;
  if (bytes.length > limits.MAX_BLOB_BYTES) {
    throw new BuildError(`${path}: the bundle is ${bytes.length} bytes; a bundle may be at most ${limits.MAX_BLOB_BYTES} (64 MiB)`, path, null);
  }
  return {
    hex: createHash('sha256').update(bytes).digest('hex'),
    bytes,
    map: map.text,
    entry,
    inputs: largestInputs(result.metafile, js.path, root),
  };
}

/** Network globals or `import()` in the bundle: an error at the original file and line (the map says where). */
function checkUses(code: string, mapText: string, root: string): void {
  const uses = forbiddenUses(code);
  if (uses.length === 0) return;
  const trace = new TraceMap(mapText);
  for (const use of uses) {
    const at = lineColumn(code, use.offset);
    const original = originalPositionFor(trace, { line: at.line, column: at.column });
    const source = original.source ?? '';
    // Libraries may mention fetch on paths job code never takes; only the user's own files are held to it.
    if (source.includes('node_modules/')) continue;
    const file = source === '' ? null : relative(process.cwd(), resolve(root, source));
    const line = original.line ?? null;
    const column = original.column === null ? null : original.column + 1;
    const position = file ? `${file}${line ? `:${line}:${column ?? 1}` : ''}: ` : '';
    const what =
      use.name === 'import()'
        ? 'loads code at run time with import(), which job code cannot do (import it statically so it is bundled)'
        : `uses ${use.name}, which job code cannot use: it runs without network (give it what it needs as inputs or shared files)`;
    throw new BuildError(`${position}${what}`, file, line, column);
  }
}

function largestInputs(metafile: Metafile, outPath: string, root: string): { path: string; bytes: number }[] {
  const outputs = Object.entries(metafile.outputs);
  const output = outputs.find(([name]) => resolve(root, name) === outPath)?.[1] ?? outputs[0]?.[1];
  if (!output) return [];
  return Object.entries(output.inputs)
    .map(([name, info]) => ({ path: name.replace(/^edgeswarm-wasm:/, ''), bytes: info.bytesInOutput }))
    .sort((a, b) => b.bytes - a.bytes);
}
