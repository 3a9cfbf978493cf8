// Two volunteers and the dashboard: the squares job is submitted through the UI and every result is right.
import { expect, test } from '@playwright/test';
import { E2E_TOKEN, cancelActiveJobs, getResults, openVolunteer, waitForStatus } from './support.ts';

test('two volunteers complete the squares job submitted from the dashboard', async ({ browser, page, request }) => {
  await cancelActiveJobs(request);
  const volunteers = [await openVolunteer(browser), await openVolunteer(browser)];
  try {
    await page.goto(`/dashboard#token=${E2E_TOKEN}`);
    await expect(page.getByTestId('stat-devices')).toContainText('2');
    await page.getByTestId('template-select').selectOption('squares');
    await page.getByTestId('submit-job').click();
    const row = page.getByTestId('job-row').first();
    await expect(row).toHaveAttribute('data-status', 'completed', { timeout: 90_000 });
    const id = await row.getAttribute('data-job-id');
    expect(id).toBeTruthy();
    const job = await waitForStatus(request, id!, 'completed');
    expect(job.progress).toEqual({ total: 10000, completed: 10000, failed: 0 });
    const page0 = await getResults(request, id!);
    expect(page0.missing).toEqual([]);
    expect(page0.results).toEqual(Array.from({ length: 10000 }, (_, n) => n * n));
    for (const v of volunteers) {
      expect(Number(await v.page.getByTestId('done-count').textContent())).toBeGreaterThan(0);
    }
  } finally {
    for (const v of volunteers) await v.context.close();
  }
});
