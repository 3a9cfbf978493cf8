// The job view draws the job's time model: measured wall time against the ideal and the seed's formulas, the split
// of device time, the advice, and each device's share; the page reports run times and round trips for it.
import { expect, test } from '@playwright/test';
import { E2E_TOKEN, cancelActiveJobs, openVolunteer, submitJob, waitForStatus } from './support.ts';

test('the job view shows the time model of a job a volunteer ran', async ({ browser, page, request }, testInfo) => {
  await cancelActiveJobs(request);
  const volunteer = await openVolunteer(browser);
  try {
    // Inputs of about 5 ms each: long enough to measure, short enough that the advice is about grouping them.
    const job = await submitJob(request, {
      name: 'time model',
      code: '(n) => { const end = Date.now() + 5; let x = 0; while (Date.now() < end) x++; return n; }',
      inputs: { range: { start: 0, end: 300 } },
      reduce: 'sum',
    });
    const done = await waitForStatus(request, job.id, 'completed');
    expect(done.result).toBe((299 * 300) / 2);
    // The hub writes the time model about once a second.
    await expect.poll(async () => (await waitForStatus(request, job.id, 'completed')).timing?.runs ?? 0, { timeout: 15_000 }).toBe(300);
    const timed = await waitForStatus(request, job.id, 'completed');
    expect(timed.timing?.meanRunMs).toBeGreaterThanOrEqual(4);
    expect(timed.timing?.commMs).toBeGreaterThan(0);
    expect(timed.timing?.devices).toBe(1);

    await page.setViewportSize({ width: 1280, height: 1400 });
    await page.goto(`/dashboard#token=${E2E_TOKEN}`);
    await page.locator(`[data-testid="job-row"][data-job-id="${job.id}"]`).click();
    const view = page.getByTestId('job-view');
    const model = view.getByTestId('time-model');
    await expect(model).toBeVisible();
    await expect(model.getByTestId('time-model-advice')).toContainText(/subtasks average/);
    for (const bar of ['wall', 'ideal', 'edge', 'serverless']) await expect(model.getByTestId(`bar-${bar}`)).toBeVisible();
    expect(Number(await model.getByTestId('bar-wall').getAttribute('data-ms'))).toBe(timed.timing?.wallMs);
    await expect(model.getByTestId('time-model-devices').locator('tbody tr')).toHaveCount(1);
    await view.screenshot({ path: testInfo.outputPath('job-view-time-model.png') });
  } finally {
    await volunteer.context.close();
  }
});
