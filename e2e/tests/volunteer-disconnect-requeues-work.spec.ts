// A volunteer page closed mid-job: its leased work goes to the other volunteer and every result is still right.
import { expect, test } from '@playwright/test';
import { cancelActiveJobs, deviceCount, getJob, getResults, openVolunteer, submitJob, waitForStatus } from './support.ts';

test('closing a volunteer mid-job does not stop the job from completing correctly', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const stayer = await openVolunteer(browser, 'autostart=1&threads=1');
  const leaver = await openVolunteer(browser, 'autostart=1&threads=1');
  try {
    // Each input busy-waits ~15 ms, so the job lasts a few seconds and both devices hold leases.
    const job = await submitJob(request, {
      name: 'slow squares',
      code: '(n) => { const end = Date.now() + 15; while (Date.now() < end) {} return n * n; }',
      inputs: { range: { start: 0, end: 400 } },
      reduce: 'sum',
    });
    await expect.poll(async () => Number(await leaver.page.getByTestId('done-count').textContent()), { timeout: 30_000 }).toBeGreaterThan(5);
    const before = (await getJob(request, job.id)).progress.completed;
    expect(before).toBeLessThan(400);
    expect(await deviceCount(request)).toBe(2);
    await leaver.context.close();
    // Within the 20 s lease lifetime: the hub must release the leaver's work on disconnect, not wait for expiry.
    await expect.poll(() => deviceCount(request), { timeout: 5_000 }).toBe(1);
    const done = await waitForStatus(request, job.id, 'completed', 15_000);
    expect(done.progress).toEqual({ total: 400, completed: 400, failed: 0 });
    const expected = Array.from({ length: 400 }, (_, n) => n * n);
    expect(done.result).toBe(expected.reduce((a, b) => a + b, 0));
    const results = await getResults(request, job.id);
    expect(results.results).toEqual(expected);
  } finally {
    await stayer.context.close();
  }
});
