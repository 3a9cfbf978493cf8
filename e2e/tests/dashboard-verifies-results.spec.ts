// Result verification from the dashboard: a replicated job waits for a second distinct device and says so, then
// completes on two browser volunteers, whose records count the results that agreed; a lying device is quarantined
// and the admin releases it from the devices table.
import { expect, test } from '@playwright/test';
import { io } from 'socket.io-client';
import { DEVICE_NAMESPACE, PROTOCOL_VERSION, type LeaseGrant } from '@edgeswarm/shared';
import { E2E_TOKEN, cancelActiveJobs, getResults, listJobs, openVolunteer, submitJob, waitForStatus } from './support.ts';

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

/** A device that answers every input with a wrong number, over the real device protocol. */
function lyingDevice(baseURL: string) {
  const socket = io(baseURL + DEVICE_NAMESPACE, {
    auth: { protocol: PROTOCOL_VERSION, deviceId: `liar_${Date.now()}`, kind: 'node', name: 'liar', threads: 1 },
    transports: ['websocket'],
    forceNew: true,
  });
  const pump = async (): Promise<void> => {
    for (;;) {
      const ack = (await socket.timeout(5000).emitWithAck('work:request', { slots: 4 })) as { ok: boolean; data?: LeaseGrant | null };
      if (!ack.ok || !ack.data) return;
      const results = ack.data.items.map((it) => ({ index: it.index, ok: true, json: JSON.stringify(-1 - Number(it.input)) }));
      await socket.timeout(5000).emitWithAck('work:submit', { leaseId: ack.data.leaseId, results });
    }
  };
  socket.on('connect', () => void pump().catch(() => {}));
  socket.on('work:available', () => void pump().catch(() => {}));
  return socket;
}

test('a lying device is quarantined, shown on the dashboard, and released by the admin', async ({ browser, page, request, baseURL }) => {
  await cancelActiveJobs(request);
  const liar = lyingDevice(baseURL ?? '');
  const volunteers = [await openVolunteer(browser, 'autostart=1&threads=1'), await openVolunteer(browser, 'autostart=1&threads=1')];
  try {
    await page.goto('/dashboard');
    await page.getByTestId('token-input').fill(E2E_TOKEN);
    await page.getByTestId('token-submit').click();
    await expect(page.getByTestId('stat-devices')).toHaveText('3');
    const job = await submitJob(request, { name: 'checked', code: '(n) => n * 3', inputs: Array.from({ length: 30 }, (_, i) => i), reduce: 'sum', verify: 'replicate' });
    const done = await waitForStatus(request, job.id, 'completed', 30_000);
    expect(done.result).toBe(1305);
    const liarRow = page.locator('[data-testid="device-row"]', { hasText: 'liar' });
    await expect(liarRow.getByTestId('device-quarantined')).toBeVisible();
    await liarRow.getByTestId('release-quarantine').click();
    await expect(liarRow.getByTestId('device-quarantined')).toHaveCount(0);
  } finally {
    liar.close();
    for (const v of volunteers) await v.context.close();
  }
});
