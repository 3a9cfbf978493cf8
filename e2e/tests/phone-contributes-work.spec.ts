// An emulated phone (Pixel 7) opens the volunteer page, fits the screen, and contributes work.
import { devices, expect, test } from '@playwright/test';
import { cancelActiveJobs, getResults, submitJob, waitForStatus } from './support.ts';

test('an emulated Pixel 7 contributes work from the volunteer page', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const context = await browser.newContext({ ...devices['Pixel 7'] });
  try {
    const page = await context.newPage();
    await page.goto('/');
    expect(await page.evaluate(() => window.innerWidth)).toBeLessThanOrEqual(420);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(await page.evaluate(() => window.innerWidth));
    await page.getByTestId('start-button').tap();
    await expect(page.getByTestId('connection-status')).toHaveText(/\bconnected\b/i);
    const job = await submitJob(request, { name: 'phone cubes', code: '(n) => n * n * n', inputs: { range: { start: 0, end: 300 } } });
    await waitForStatus(request, job.id, 'completed');
    // The hub completes the job when it commits the last result; the page counts it when the ack arrives.
    await expect(page.getByTestId('done-count')).toHaveText('300');
    expect((await getResults(request, job.id)).results).toEqual(Array.from({ length: 300 }, (_, n) => n ** 3));
  } finally {
    await context.close();
  }
});
