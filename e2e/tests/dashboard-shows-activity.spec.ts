// While a job runs, the dashboard's throughput chart, device list and job progress show the activity.
import { expect, test } from '@playwright/test';
import { E2E_TOKEN, cancelActiveJobs, openVolunteer, submitJob, waitForStatus } from './support.ts';

test('the dashboard shows throughput, devices and progress while a job runs', async ({ browser, page, request }, testInfo) => {
  await cancelActiveJobs(request);
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=2');
  try {
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.goto(`/dashboard#token=${E2E_TOKEN}`);
    await expect(page.getByTestId('device-row')).toHaveCount(1);
    const job = await submitJob(request, {
      name: 'dashboard activity',
      code: '(n) => { const end = Date.now() + 5; while (Date.now() < end) {} return n; }',
      inputs: { range: { start: 0, end: 2000 } },
      reduce: 'count',
    });
    const row = page.locator(`[data-testid="job-row"][data-job-id="${job.id}"]`);
    await expect(row).toHaveAttribute('data-status', 'running');
    await expect.poll(async () => Number((await page.getByTestId('stat-subtasks-per-second').textContent())?.replace(/[^\d.]/g, '') || 0), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect(page.getByTestId('throughput-chart').locator('canvas').first()).toBeVisible();
    await expect(page.getByTestId('device-row').first()).toContainText('working');
    await page.screenshot({ path: testInfo.outputPath('dashboard-during-job.png'), fullPage: true });
    await waitForStatus(request, job.id, 'completed');
    await expect(row).toHaveAttribute('data-status', 'completed');
  } finally {
    await volunteer.context.close();
  }
});
