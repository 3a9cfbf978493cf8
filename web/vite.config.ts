// Vite build and dev server of the web workspace: two pages (volunteer at /, dashboard at /dashboard) and the job-runner worker.
import { fileURLToPath } from 'node:url';
import { build, defineConfig, type Connect, type Plugin, type Rolldown } from 'vite';
import react from '@vitejs/plugin-react';

const hub = `http://127.0.0.1:${process.env.HUB_PORT ?? 8080}`;

// The same headers the hub sends (a relative import: Vite bundles it into the config, unlike a workspace package).
import { createHash } from 'node:crypto';
import { SECURITY_HEADERS, pageCsp, sandboxCspFor } from '../shared/src/http/security-headers.ts';

const securityHeaders = { ...SECURITY_HEADERS };

const page = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The job sandbox frame gets the same CSP as from the hub (an opaque origin without network); its module scripts are
 * then cross-origin requests (Origin: null), so the dev server answers them with CORS headers.
 */
/**
 * Modules the dev sandbox frame loads (cross-origin, Origin: null): its own code, the runner bundle and pre-bundled
 * dependencies; never files by path (/@fs), raw or URL imports, or anything else of the project.
 */
const DEV_SANDBOX_PATHS = ['/src/sandbox/', '/node_modules/.vite/deps/', '/@id/__x00__virtual:edgeswarm-runner-source', '/@vite/client', '/@vite/env'];

function sandboxModule(url: string | undefined): boolean {
  if (!url || /[?&](raw|url|inline|worker|sharedworker)\b/.test(url) || url.includes('/@fs/') || url.includes('..')) return false;
  return DEV_SANDBOX_PATHS.some((path) => url.startsWith(path));
}

function sandboxFrame(): Plugin {
  const headers: Connect.NextHandleFunction = (req, res, next) => {
    if (req.url === '/sandbox' || req.url?.startsWith('/sandbox/') || req.url?.startsWith('/sandbox?')) {
      // As the hub does, with the paths the dev server serves the frame's modules from.
      const origin = `http://${req.headers.host ?? 'localhost:5173'}`;
      res.setHeader('Content-Security-Policy', sandboxCspFor(origin, DEV_SANDBOX_PATHS));
    }
    if (req.headers.origin === 'null' && sandboxModule(req.url)) res.setHeader('Access-Control-Allow-Origin', '*');
    next();
  };
  return {
    name: 'edgeswarm:sandbox-frame',
    configureServer: (server) => void server.middlewares.use(headers),
    configurePreviewServer: (server) => void server.middlewares.use(headers),
  };
}

const RUNNER_SOURCE = 'virtual:edgeswarm-runner-source';

/**
 * `import source from 'virtual:edgeswarm-runner-source'`: the runner worker (src/volunteer/runner.worker.ts) bundled
 * as one classic script, as a string. The sandbox frame starts it from a blob: URL; an opaque origin can start no
 * worker from a URL of the hub, so the dev server must inline it too (Vite's `?worker&inline` inlines only in builds).
 */
function runnerSource(): Plugin {
  let cached: string | null = null;
  return {
    name: 'edgeswarm:runner-source',
    resolveId: (id) => (id === RUNNER_SOURCE ? `\0${RUNNER_SOURCE}` : null),
    async load(id) {
      if (id !== `\0${RUNNER_SOURCE}`) return null;
      const entry = page('./src/volunteer/runner.worker.ts');
      this.addWatchFile(entry);
      cached ??= await bundleRunner(entry);
      return `export default ${JSON.stringify(cached)};`;
    },
    handleHotUpdate: () => {
      cached = null;
    },
  };
}

async function bundleRunner(entry: string): Promise<string> {
  const output = (await build({
    configFile: false,
    logLevel: 'warn',
    build: {
      write: false,
      minify: true,
      lib: { entry, formats: ['iife'], name: 'edgeswarmRunner' },
      rolldownOptions: { output: { inlineDynamicImports: true } },
    },
  })) as Rolldown.RolldownOutput | Rolldown.RolldownOutput[];
  const chunk = (Array.isArray(output) ? output : [output]).flatMap((o) => o.output).find((o) => o.type === 'chunk');
  if (!chunk || chunk.type !== 'chunk') throw new Error('bundling the runner worker produced no script');
  return chunk.code;
}

/**
 * The pages get the hub's page CSP. The dev server also injects inline scripts (React Refresh's preamble): their
 * hashes are added to script-src, taken from the HTML as it is transformed, so nothing else inline may run.
 */
function pageSecurityPolicy(): Plugin {
  const hashes = new Set<string>();
  const isPage = (url: string | undefined) => url === '/' || /^\/(\?|index\.html|dashboard(\/|\/index\.html)?(\?|$))/.test(url ?? '');
  const headers: Connect.NextHandleFunction = (req, res, next) => {
    if (isPage(req.url)) {
      const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
      res.end = ((...args: unknown[]) => {
        if (!res.headersSent) res.setHeader('Content-Security-Policy', pageCsp([...hashes]));
        return end(...args);
      }) as typeof res.end;
    }
    next();
  };
  return {
    name: 'edgeswarm:page-csp',
    transformIndexHtml: {
      order: 'post',
      handler(html) {
        for (const [, body] of html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)) {
          if (body?.trim()) hashes.add(`'sha256-${createHash('sha256').update(body).digest('base64')}'`);
        }
        return html;
      },
    },
    configureServer: (server) => void server.middlewares.use(headers),
    configurePreviewServer: (server) => void server.middlewares.use(headers),
  };
}

/** The hub serves the dashboard at `/dashboard` (no slash); Vite's MPA fallback only knows `/dashboard/`. */
function dashboardWithoutSlash(): Plugin {
  const rewrite: Connect.NextHandleFunction = (req, _res, next) => {
    if (req.url === '/dashboard' || req.url?.startsWith('/dashboard?')) {
      req.url = '/dashboard/index.html' + req.url.slice('/dashboard'.length);
    }
    next();
  };
  return {
    name: 'edgeswarm:dashboard-without-slash',
    configureServer: (server) => void server.middlewares.use(rewrite),
    configurePreviewServer: (server) => void server.middlewares.use(rewrite),
  };
}

export default defineConfig({
  base: '/',
  appType: 'mpa',
  plugins: [react(), dashboardWithoutSlash(), sandboxFrame(), runnerSource(), pageSecurityPolicy()],
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // CodeMirror, loaded lazily by the dashboard's submit form, is a ~510 kB chunk on its own.
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      input: {
        volunteer: page('./index.html'),
        dashboard: page('./dashboard/index.html'),
        sandbox: page('./sandbox/index.html'),
      },
    },
  },
  server: {
    port: 5173,
    strictPort: true,
    headers: securityHeaders,
    proxy: {
      '/api': hub,
      '/healthz': hub,
      '/socket.io': { target: hub, ws: true },
    },
  },
  preview: { headers: securityHeaders },
});
