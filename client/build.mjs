// Builds the client package: dist/index.js (the SDK) and dist/cli.js (the edgeswarm command) with esbuild (the shared
// workspace bundled in, npm dependencies left to node_modules), then type declarations with tsc.
import { build } from 'esbuild';
import { chmodSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const here = new URL('.', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const external = Object.keys(pkg.dependencies ?? {}).filter((name) => name !== '@edgeswarm/shared');

rmSync(`${here}dist`, { recursive: true, force: true });
await build({
  absWorkingDir: here,
  entryPoints: { index: 'src/index.ts', cli: 'src/cli.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  external,
  logLevel: 'warning',
  // zod (used by shared) is bundled in; what it imports must resolve from the shared workspace.
  nodePaths: [`${here}../shared/node_modules`],
});
chmodSync(`${here}dist/cli.js`, 0o755);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: here, stdio: 'inherit' });
// Declarations name their siblings as the sources do (./x.ts); Node resolves the built ones (./x.js).
for (const file of readdirSync(`${here}dist`).filter((f) => f.endsWith('.d.ts'))) {
  const path = `${here}dist/${file}`;
  writeFileSync(path, readFileSync(path, 'utf8').replace(/(from\s+['"]\.\/[^'"]+)\.ts(['"])/g, '$1.js$2'));
}
