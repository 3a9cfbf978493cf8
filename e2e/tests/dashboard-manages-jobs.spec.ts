// From the dashboard: cancel a running job, submit a template, open its job view and download its results.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { E2E_TOKEN, cancelActiveJobs, getJob, listJobs, openVolunteer, submitJob, waitForStatus } from './support.ts';

test('the dashboard cancels a job, shows a finished job and downloads its results', async ({ browser, page, request }) => {
  await cancelActiveJobs(request);
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=2');
  try {
    await page.goto('/dashboard');
    await page.getByTestId('token-input').fill(E2E_TOKEN);
    await page.getByTestId('token-submit').click();
    await expect(page.getByTestId('stat-devices')).toHaveText('1');

    const slow = await submitJob(request, { name: 'to cancel', code: '(n) => { const e = Date.now() + 50; while (Date.now() < e) {} return n; }', inputs: { range: { start: 0, end: 5000 } } });
    const slowRow = page.locator(`[data-testid="job-row"][data-job-id="${slow.id}"]`);
    await expect(slowRow).toHaveAttribute('data-status', 'running');
    await slowRow.getByTestId('cancel-job').click();
    await expect(slowRow).toHaveAttribute('data-status', 'cancelled');
    expect((await getJob(request, slow.id)).status).toBe('cancelled');

    const before = new Set((await listJobs(request)).map((j) => j.id));
    await page.getByTestId('template-select').selectOption('pi');
    await page.getByTestId('submit-job').click();
    let id: string | undefined;
    await expect.poll(async () => (id = (await listJobs(request)).find((j) => !before.has(j.id))?.id)).toBeTruthy();
    const pi = await waitForStatus(request, id!, 'completed');
    expect(pi.reduce).toBe('mean');
    expect(Math.abs((pi.result as number) - Math.PI)).toBeLessThan(0.01);

    await page.locator(`[data-testid="job-row"][data-job-id="${id}"]`).click();
    const view = page.getByTestId('job-view');
    await expect(view.getByTestId('job-status')).toContainText('completed');
    await expect(view.getByTestId('job-result')).toContainText('3.14');
    await expect(view.getByTestId('result-row').first()).toBeVisible();
    const [download] = await Promise.all([page.waitForEvent('download'), view.getByTestId('download-results').click()]);
    const saved = JSON.parse(readFileSync((await download.path())!, 'utf8')) as unknown;
    const results = Array.isArray(saved) ? saved : (saved as { results: unknown[] }).results;
    expect(results).toHaveLength(pi.progress.total);
    expect(results.every((r) => typeof r === 'number' && r > 2.5 && r < 3.8)).toBe(true);

    await slowRow.getByTestId('delete-job').click();
    await slowRow.getByTestId('delete-job').click();
    await expect(slowRow).toHaveCount(0);
  } finally {
    await volunteer.context.close();
  }
});
