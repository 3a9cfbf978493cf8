// Two volunteers and the dashboard: the squares job is submitted through the UI and every result is right.
import { expect, test } from '@playwright/test';
import { E2E_TOKEN, cancelActiveJobs, getResults, listJobs, openVolunteer, waitForStatus } from './support.ts';

test('two volunteers complete the squares job submitted from the dashboard', async ({ browser, page, request }) => {
  await cancelActiveJobs(request);
  const volunteers = [await openVolunteer(browser), await openVolunteer(browser)];
  try {
    await page.goto(`/dashboard#token=${E2E_TOKEN}`);
    await expect(page.getByTestId('stat-devices')).toContainText('2');
    await page.getByTestId('template-select').selectOption('squares');
    const before = new Set((await listJobs(request)).map((j) => j.id));
    await page.getByTestId('submit-job').click();
    let id: string | undefined;
    await expect.poll(async () => (id = (await listJobs(request)).find((j) => !before.has(j.id))?.id)).toBeTruthy();
    const row = page.locator(`[data-testid="job-row"][data-job-id="${id}"]`);
    await expect(row).toHaveAttribute('data-status', 'completed', { timeout: 90_000 });
    const job = await waitForStatus(request, id!, 'completed');
    expect(job.name).not.toBe('');
    expect(job.progress).toEqual({ total: 10000, completed: 10000, failed: 0 });
    const page0 = await getResults(request, id!);
    expect(page0.missing).toEqual([]);
    expect(page0.results).toEqual(Array.from({ length: 10000 }, (_, n) => n * n));
    for (const v of volunteers) {
      await expect.poll(async () => Number(await v.page.getByTestId('done-count').textContent())).toBeGreaterThan(0);
    }
  } finally {
    for (const v of volunteers) await v.context.close();
  }
});
