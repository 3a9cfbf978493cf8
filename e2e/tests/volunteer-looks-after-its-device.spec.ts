// A device that looks after itself: with the Battery Status API stubbed at 15% and not charging, the page pauses
// (below the default 20%) and says why; lowering the floor lets it work; it shows the CPU time it gave. With "Run only
// while charging" ticked, it pauses off the charger and works on it.
import { expect, test, type BrowserContext } from '@playwright/test';
import { cancelActiveJobs, openVolunteer, submitJob, waitForStatus } from './support.ts';

/** Stubs the Battery Status API at `level` (0–1), discharging, before any page script runs; the test plugs the charger in through `window.testBattery`. */
async function stubBattery(context: BrowserContext, level: number): Promise<void> {
  await context.addInitScript((startLevel) => {
    const battery = Object.assign(new EventTarget(), { charging: false, level: startLevel, chargingTime: Infinity, dischargingTime: 3600 });
    Object.defineProperty(Navigator.prototype, 'getBattery', { value: () => Promise.resolve(battery), configurable: true });
    Object.defineProperty(window, 'testBattery', { value: battery });
  }, level);
}

test('pauses on a low battery and says why, works once the volunteer lowers the floor, and shows what it gave', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const { context, page } = await openVolunteer(browser, 'autostart=1&threads=2', {}, (c) => stubBattery(c, 0.15));
  try {
    await expect(page.getByTestId('status-text')).toHaveText('Paused: the battery is at 15% (below your 20%) and not charging.');
    const job = await submitJob(request, {
      name: 'battery',
      code: '(n) => { const end = Date.now() + 2; while (Date.now() < end); return n; }',
      inputs: { range: { start: 0, end: 200 } },
      reduce: 'sum',
    });
    // Paused: nothing runs here while the job waits.
    await page.waitForTimeout(1500);
    await expect(page.getByTestId('done-count')).toHaveText('0');
    expect((await waitForStatus(request, job.id, 'queued', 5_000)).progress.completed).toBe(0);
    // The volunteer lowers the floor: the device works again.
    await page.getByTestId('battery-floor').selectOption('10');
    await waitForStatus(request, job.id, 'completed');
    await expect.poll(async () => Number(await page.getByTestId('done-count').textContent())).toBeGreaterThan(0);
    await expect.poll(async () => Number(await page.getByTestId('donated-session').getAttribute('data-ms'))).toBeGreaterThan(0);
    await expect(page.getByTestId('donated-total')).toContainText('1 job helped');
    // Kept in the browser: a reload shows the same total, and the floor the volunteer picked.
    const total = Number(await page.getByTestId('donated-total').getAttribute('data-ms'));
    await page.reload();
    await expect(page.getByTestId('battery-floor')).toHaveValue('10');
    await expect.poll(async () => Number(await page.getByTestId('donated-total').getAttribute('data-ms'))).toBeGreaterThanOrEqual(total);
  } finally {
    await context.close();
  }
});

test('with "Run only while charging" ticked, pauses off the charger, says why, and works once plugged in', async ({ browser, request }) => {
  await cancelActiveJobs(request);
  const { context, page } = await openVolunteer(browser, 'autostart=1&threads=2', {}, (c) => stubBattery(c, 0.8));
  try {
    // Above the floor and not asked to wait for a charger: it works.
    const first = await submitJob(request, { name: 'on battery', code: '(n) => n + 1', inputs: [1, 2, 3] });
    await waitForStatus(request, first.id, 'completed');
    await page.getByTestId('only-while-charging').check();
    await expect(page.getByTestId('status-text')).toHaveText('Paused while this device is not charging.');
    const done = await page.getByTestId('done-count').textContent();
    const job = await submitJob(request, { name: 'charging', code: '(n) => n * 2', inputs: { range: { start: 0, end: 50 } }, reduce: 'sum' });
    await page.waitForTimeout(1500);
    await expect(page.getByTestId('done-count')).toHaveText(done ?? '');
    expect((await waitForStatus(request, job.id, 'queued', 5_000)).progress.completed).toBe(0);
    // Plugged in: it works again.
    await page.evaluate(() => {
      const battery = (window as unknown as { testBattery: EventTarget & { charging: boolean } }).testBattery;
      battery.charging = true;
      battery.dispatchEvent(new Event('chargingchange'));
    });
    expect((await waitForStatus(request, job.id, 'completed')).progress.completed).toBe(50);
    await expect(page.getByTestId('status-text')).not.toHaveText(/Paused/);
  } finally {
    await context.close();
  }
});
