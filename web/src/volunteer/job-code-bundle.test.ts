// Job code compiled in a bundled worker must not see the runtime's variables: the production bundler
// (rolldown, via Vite) turned `const indirectEval = eval; indirectEval(src)` into a direct `eval(src)`;
// `(0, eval)(src)` survives bundling. This test bundles the shared runtime and checks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Rolldown } from 'vite';
import { describe, expect, it } from 'vitest';

const sharedEntry = new URL('../../../shared/src/index.ts', import.meta.url);

async function bundledCompile(): Promise<(code: string) => () => unknown> {
  const output = (await build({
    configFile: false,
    logLevel: 'silent',
    build: { write: false, minify: false, lib: { entry: sharedEntry.pathname, formats: ['es'], fileName: 'shared' } },
  })) as Rolldown.RolldownOutput | Rolldown.RolldownOutput[];
  const chunk = (Array.isArray(output) ? output[0] : output)?.output[0];
  if (!chunk || chunk.type !== 'chunk') throw new Error('vite produced no chunk');
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-bundle-'));
  try {
    const file = join(dir, 'shared.mjs');
    writeFileSync(file, chunk.code);
    const mod = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as {
      compileJobFunction(code: string): () => unknown;
    };
    return mod.compileJobFunction;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('job code in the production bundle', () => {
  it('sees none of the runtime’s local variables', async () => {
    const compile = await bundledCompile();
    expect(compile('() => typeof code')()).toBe('undefined');
  });
});
