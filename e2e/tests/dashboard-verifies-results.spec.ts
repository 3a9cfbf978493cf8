// Result verification from the dashboard: a replicated job waits for a second distinct device and says so, then
// completes on two browser volunteers, whose records count the results that agreed.
import { expect, test } from '@playwright/test';
import { E2E_TOKEN, cancelActiveJobs, getResults, listJobs, openVolunteer, waitForStatus } from './support.ts';

test('a replicated job waits for devices on the dashboard, then two volunteers complete it', async ({ browser, page, request }) => {
  await cancelActiveJobs(request);
  const first = await openVolunteer(browser, 'autostart=1&threads=1');
  let second: Awaited<ReturnType<typeof openVolunteer>> | undefined;
  try {
    await page.goto('/dashboard');
    await page.getByTestId('token-input').fill(E2E_TOKEN);
    await page.getByTestId('token-submit').click();
    await expect(page.getByTestId('stat-devices')).toHaveText('1');

    const before = new Set((await listJobs(request)).map((j) => j.id));
    await page.getByTestId('job-name').fill('verified squares');
    await page.getByTestId('inputs-mode').selectOption('json');
    await page.getByTestId('inputs-json').fill('[1, 2, 3, 4, 5, 6]');
    await page.getByTestId('job-verify').selectOption('replicate');
    await page.getByTestId('job-replication').fill('2');
    await page.getByTestId('submit-job').click();
    let id: string | undefined;
    await expect.poll(async () => (id = (await listJobs(request)).find((j) => !before.has(j.id))?.id)).toBeTruthy();

    const row = page.locator(`[data-testid="job-row"][data-job-id="${id}"]`);
    await expect(row.getByTestId('job-waiting')).toHaveText('waiting for devices');
    await expect(row).toHaveAttribute('data-status', 'running');

    second = await openVolunteer(browser, 'autostart=1&threads=1');
    const done = await waitForStatus(request, id!, 'completed', 30_000);
    expect(done).toMatchObject({ verify: 'replicate', replication: 2, quorum: 2 });
    expect((await getResults(request, id!)).results).toEqual([1, 4, 9, 16, 25, 36]);
    await expect(row.getByTestId('job-waiting')).toHaveCount(0);

    const devices = page.getByTestId('device-row');
    await expect(devices).toHaveCount(2);
    for (const device of await devices.all()) await expect(device).toContainText('6 / 0');
    await expect(page.getByTestId('device-quarantined')).toHaveCount(0);
    await row.click();
    await expect(page.getByTestId('job-verification')).toContainText('each input on 2 distinct devices, all 2 must agree');
  } finally {
    await first.context.close();
    await second?.context.close();
  }
});
