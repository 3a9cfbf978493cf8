// The volunteer stays in charge: a visible indicator while job code runs, the job and its submitter shown, threads and
// a CPU limit that take effect, and a kill switch: cancelling a job stops its work on every device at once.
import { expect, test } from '@playwright/test';
import { cancelActiveJobs, getResults, openVolunteer, submitJob, waitForStatus } from './support.ts';

test('cancelling a job stops its runs on every volunteer promptly, and they take the next job', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const volunteers = [await openVolunteer(browser, 'autostart=1&threads=1'), await openVolunteer(browser, 'autostart=1&threads=1')];
  try {
    // Runs that would hold each worker for a minute.
    const stuck = await submitJob(request, { name: 'endless', code: '() => { for (;;) {} }', inputs: [1, 2, 3, 4], timeoutMs: 60_000 });
    for (const { page } of volunteers) {
      await expect(page.getByTestId('working-indicator')).toBeVisible({ timeout: 15_000 });
      await expect(page.getByTestId('current-job')).toContainText(`endless (${stuck.id}), submitted by the hub`);
    }
    const res = await request.post(`/api/jobs/${stuck.id}/cancel`, { headers: { Authorization: 'Bearer e2e-admin-token-0123456789' } });
    expect(res.status()).toBe(200);
    // A generous bound, far below the runs' 60 s budget.
    for (const { page } of volunteers) {
      await expect(page.getByTestId('working-indicator')).toBeHidden({ timeout: 5_000 });
      await expect(page.getByTestId('current-job')).toHaveText('—', { timeout: 5_000 });
    }
    const next = await submitJob(request, { name: 'after the kill switch', code: '(n) => n + 10', inputs: [1, 2, 3, 4] });
    await waitForStatus(request, next.id, 'completed', 20_000);
    expect((await getResults(request, next.id)).results).toEqual([11, 12, 13, 14]);
  } finally {
    for (const v of volunteers) await v.context.close();
  }
});

test('the volunteer sets threads and a CPU limit, and work goes on within them', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const volunteer = await openVolunteer(browser, 'autostart=1&threads=1');
  try {
    const { page } = volunteer;
    await page.getByTestId('threads-select').selectOption('2');
    await expect(page.getByTestId('threads')).toHaveText('2');
    await page.getByTestId('cpu-limit').selectOption('50');
    await expect(page.getByTestId('cpu-limit')).toHaveValue('50');
    const job = await submitJob(request, { name: 'limited', code: '(n) => { const end = Date.now() + 20; while (Date.now() < end); return n * 2; }', inputs: [1, 2, 3, 4, 5, 6] });
    await waitForStatus(request, job.id, 'completed', 30_000);
    expect((await getResults(request, job.id)).results).toEqual([2, 4, 6, 8, 10, 12]);
    await expect(page.getByTestId('pause-when-hidden')).not.toBeChecked();
  } finally {
    await volunteer.context.close();
  }
});
