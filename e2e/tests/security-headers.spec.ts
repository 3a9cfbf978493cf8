// Every page and API answer carries the security headers; the pages run under their CSP without violating it.
import { expect, test } from '@playwright/test';
import { E2E_TOKEN, openVolunteer } from './support.ts';

test('pages, the sandbox frame and the API carry the security headers', async ({ request }) => {
  for (const path of ['/', '/dashboard', '/sandbox/', '/api/stats', '/healthz']) {
    const res = await request.get(path, { headers: { Authorization: `Bearer ${E2E_TOKEN}` } });
    expect(res.status(), path).toBe(200);
    const h = res.headers();
    expect(h['x-content-type-options'], path).toBe('nosniff');
    expect(h['referrer-policy'], path).toBe('no-referrer');
  }
  for (const path of ['/', '/dashboard']) {
    const csp = (await request.get(path)).headers()['content-security-policy'] ?? '';
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(csp, path).toContain("script-src 'self'");
    expect(csp, path).toContain("object-src 'none'");
    const scriptSrc = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src')) ?? '';
    expect(scriptSrc, path).not.toContain('unsafe-inline');
  }
});

test('the volunteer page and the dashboard work under their CSP without a violation', async ({ browser }) => {
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=1');
  const violations: string[] = [];
  try {
    const page = await volunteer.context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    volunteer.page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`/dashboard#token=${E2E_TOKEN}`);
    await expect(page.getByTestId('stat-devices')).not.toHaveText('0', { timeout: 15_000 });
    await volunteer.page.reload();
    await expect(volunteer.page.getByTestId('connection-status')).toHaveText(/\bconnected\b/i);
    expect(violations).toEqual([]);
  } finally {
    await volunteer.context.close();
  }
});
