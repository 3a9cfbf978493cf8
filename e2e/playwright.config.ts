// Playwright configuration: one hub (built web app + server) on port 3100 and Debian's Chromium, headless.
import { fileURLToPath } from 'node:url';
import { defineConfig, devices } from '@playwright/test';

export const E2E_PORT = 3100;
export const E2E_TOKEN = 'e2e-admin-token-0123456789';
/** Repository root, whatever directory Playwright was started from. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA_DIR = `${ROOT}e2e/.data`;

const chromium = {
  executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};

export default defineConfig({
  testDir: './tests',
  // One hub is shared, and volunteers take any job: tests run one at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${E2E_PORT}`,
    launchOptions: chromium,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], launchOptions: chromium } }],
  webServer: {
    command: `rm -rf '${DATA_DIR}' && npm run build -w web && node --import tsx server/src/main.ts --port ${E2E_PORT} --host 127.0.0.1 --data-dir '${DATA_DIR}'`,
    cwd: ROOT,
    url: `http://127.0.0.1:${E2E_PORT}/healthz`,
    env: { EDGESWARM_TOKEN: E2E_TOKEN },
    // Never reuse a hub left on the port: it would have other data and maybe another token.
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
  },
});
