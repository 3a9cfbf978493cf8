// Joining by QR code: a hub that listens on every address shows, on its dashboard, a QR code of its volunteer URL (with
// the private pool's join token) for each LAN address; the code decodes to that URL, which opens the volunteer page
// with Start ready (nothing runs before the volunteer presses it).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { expect, test } from '@playwright/test';
import { REPO_ROOT, freePort } from './support.ts';

const TOKEN = 'qr-admin-token-0123456789';
const JOIN = 'qr-pool-token-123';


test('the dashboard shows a QR code per LAN address that decodes to the volunteer URL with Start ready', async ({ page }) => {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeswarm-e2e-qr-'));
  // Listening on every address (so phones could reach it); this test only ever talks to it on 127.0.0.1.
  const hub: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', '--port', String(port), '--host', '0.0.0.0', '--data-dir', dataDir, '--token', TOKEN, '--join-token', JOIN],
    { cwd: join(REPO_ROOT, 'server'), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  hub.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  hub.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await expect.poll(() => output, { timeout: 30_000 }).toContain('Dashboard:');
    const lan = [...output.matchAll(/Volunteer page: (http:\/\/\S+)/g)].map((m) => m[1] ?? '').filter((u) => !u.includes('localhost'));
    await page.goto(`http://127.0.0.1:${port}/dashboard#token=${TOKEN}`);
    const panel = page.getByTestId('join-qr');
    await expect(panel).toBeVisible();
    const codes = panel.getByTestId('join-qr-code');
    await expect(codes).toHaveCount(lan.length);
    if (lan.length === 0) {
      // A machine without a LAN address: the panel says how phones could join instead.
      await expect(panel).toContainText('--host 0.0.0.0');
      return;
    }
    for (let i = 0; i < lan.length; i++) {
      const code = codes.nth(i);
      const url = await code.getAttribute('data-url');
      expect(url).toBe(lan[i]);
      expect(url).toContain(`?join=${JOIN}`);
      const image = PNG.sync.read(await code.locator('img').screenshot());
      expect(jsQR(new Uint8ClampedArray(image.data), image.width, image.height)?.data).toBe(url);
    }
    // What a phone that scans it sees, opened here on loopback: the volunteer page, Start ready, nothing running yet.
    const phone = new URL(lan[0] ?? '');
    phone.hostname = '127.0.0.1';
    await page.goto(phone.toString());
    const start = page.getByTestId('start-button');
    await expect(start).toBeEnabled();
    await expect(page.getByTestId('done-count')).toHaveText('0');
  } finally {
    hub.kill('SIGTERM');
    await new Promise((r) => (hub.exitCode === null ? hub.once('exit', r) : r(null)));
    rmSync(dataDir, { recursive: true, force: true });
  }
});
