// Job code that never returns is stopped at timeoutMs in a real browser worker; the job fails with `timeout` and the page carries on.
import { expect, test } from '@playwright/test';
import { cancelActiveJobs, getResults, openVolunteer, submitJob, waitForStatus } from './support.ts';

test('an endless loop fails its job with timeout and the volunteer goes on to the next job', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=1');
  try {
    const runaway = await submitJob(request, { name: 'runaway', code: '() => { for (;;) {} }', inputs: [1], timeoutMs: 500, maxAttempts: 2 });
    const failed = await waitForStatus(request, runaway.id, 'failed', 30_000);
    expect(failed.error).toMatchObject({ code: 'timeout', input: 0 });
    expect(failed.error?.message).toContain('500 ms');
    // The page's main thread stayed responsive while the worker spun.
    expect(await volunteer.page.evaluate(() => 6 * 7)).toBe(42);
    const next = await submitJob(request, { name: 'after runaway', code: '(n) => n + 1', inputs: [1, 2, 3] });
    await waitForStatus(request, next.id, 'completed', 30_000);
    expect((await getResults(request, next.id)).results).toEqual([2, 3, 4]);
    await expect(volunteer.page.getByTestId('failed-count')).toHaveText('2');
  } finally {
    await volunteer.context.close();
  }
});
