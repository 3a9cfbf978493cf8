// Vite build and dev server of the web workspace: two pages (volunteer at /, dashboard at /dashboard) and the job-runner worker.
import { fileURLToPath } from 'node:url';
import { defineConfig, type Connect, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

const hub = `http://127.0.0.1:${process.env.HUB_PORT ?? 8080}`;

// The same headers the hub sends (a relative import: Vite bundles it into the config, unlike a workspace package).
import { SECURITY_HEADERS } from '../shared/src/http/security-headers.ts';

const securityHeaders = { ...SECURITY_HEADERS };

const page = (path: string) => fileURLToPath(new URL(path, import.meta.url));

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
  plugins: [react(), dashboardWithoutSlash()],
  // Classic workers: the job sandbox frame (an opaque origin) starts its runner from a blob: URL, which only works
  // for classic workers there.
  worker: { format: 'iife' },
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
