// A volunteer tab that crashes mid-run (as Chromium does when job code exhausts memory) loses its lease; after repeated losses the job fails with device_lost, and the hub and other devices carry on.
import { expect, test, type Page } from '@playwright/test';
import { cancelActiveJobs, getJob, getResults, openVolunteer, submitJob, waitForStatus } from './support.ts';

/** Kills the renderer process of the page, as an out-of-memory crash does. */
async function crashTab(page: Page): Promise<void> {
  const crashed = new Promise<void>((resolve) => page.once('crash', () => resolve()));
  await page.goto('chrome://crash').catch(() => {});
  await crashed;
}

test('repeated tab crashes fail the job with device_lost while the hub keeps serving', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const job = await submitJob(request, {
    name: 'crashes its tab',
    code: '() => new Promise(() => {})', // never settles: the run is in progress whenever the tab crashes
    inputs: [1, 2, 3],
  });
  const context = await browser.newContext();
  try {
    for (let crash = 1; crash <= 11; crash++) {
      const page = await context.newPage();
      await page.goto('/?autostart=1&threads=1');
      await expect(page.getByTestId('current-job')).toContainText(job.id);
      await crashTab(page);
      await page.close().catch(() => {});
      if (crash <= 10) await expect.poll(async () => (await getJob(request, job.id)).status).toBe('running');
    }
    const failed = await waitForStatus(request, job.id, 'failed', 15_000);
    expect(failed.error).toMatchObject({ code: 'device_lost', input: 0 });
    expect(failed.error?.message).toContain('lost 11 times');
  } finally {
    await context.close();
  }
  // The hub carries on: another device completes the next job.
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=1');
  try {
    const next = await submitJob(request, { name: 'after crashes', code: '(n) => -n', inputs: [1, 2, 3] });
    await waitForStatus(request, next.id, 'completed', 30_000);
    expect((await getResults(request, next.id)).results).toEqual([-1, -2, -3]);
  } finally {
    await volunteer.context.close();
  }
});
