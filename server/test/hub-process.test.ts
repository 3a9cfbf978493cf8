/** The hub as a real process (`node --import tsx src/main.ts`): flags over env, printed URLs, token file, clean stop. */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import type { Job } from '@edgeswarm/shared';
import { TestDevice } from './support/test-device.ts';
import { waitFor } from './support/test-hub.ts';
import { SERVER_DIR, startHubProcess } from './support/hub-process.ts';
import { lanAddresses } from '../src/hub/origin-policy.ts';

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function startHub(args: string[], env: Record<string, string> = {}) {
  const hub = startHubProcess(args, env);
  children.push(hub.child);
  return { ...hub, exited: hub.exited.then((e) => e.code) };
}

const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'edgeswarm-proc-'));
  dirs.push(d);
  return d;
};

describe('hub process', () => {
  it('prints the volunteer and dashboard URLs, keeps a generated token in a 0600 file, and stops on SIGTERM with 0', async () => {
    const dataDir = tempDir();
    const hub = startHub(['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], { PORT: '1' });
    const out = await hub.ready;
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    expect(statSync(join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
    const port = /listening on port (\d+)/.exec(out)?.[1];
    expect(Number(port)).toBeGreaterThan(1);
    expect(out).toContain(`Volunteer page: http://127.0.0.1:${port}/`);
    expect(out).toContain(`Dashboard:      http://127.0.0.1:${port}/dashboard#token=${token}`);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
  });

  it('prints a QR code of the volunteer URL of a LAN address when it listens on all of them, and none on loopback', async () => {
    const lan = lanAddresses();
    const hub = startHub(['--port', '0', '--host', '0.0.0.0', '--data-dir', tempDir(), '--join-token', 'pool-token-123']);
    await hub.ready;
    const port = /listening on port (\d+)/.exec(hub.output())?.[1];
    if (lan.length === 0) {
      // This machine has no LAN address: nothing a phone could open, so no code (and the hub says the same on loopback below).
      await new Promise((r) => setTimeout(r, 500));
      expect(hub.output()).not.toContain('Scan to volunteer');
    } else {
      const url = `http://${lan[0]?.includes(':') ? `[${lan[0]}]` : lan[0]}:${port}/?join=pool-token-123`;
      await waitFor(() => (/Scan to volunteer[^\n]*\n[\s\S]*[█▀▄]/.test(hub.output()) ? true : undefined), 10_000, 'the QR code');
      expect(hub.output()).toContain(`Scan to volunteer from a phone on this network (${url})`);
    }
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
    const local = startHub(['--port', '0', '--host', '127.0.0.1', '--data-dir', tempDir()]);
    await local.ready;
    await new Promise((r) => setTimeout(r, 500));
    expect(local.output()).not.toContain('Scan to volunteer');
  });

  it('takes the token from EDGESWARM_TOKEN and lets --token win over it', async () => {
    const dataDir = tempDir();
    const hub = startHub(['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--token', 'flag-token-1234567890'], {
      EDGESWARM_TOKEN: 'env-token-12345678901',
    });
    const out = await hub.ready;
    const port = /listening on port (\d+)/.exec(out)?.[1];
    const withFlag = await fetch(`http://127.0.0.1:${port}/api/stats`, { headers: { Authorization: 'Bearer flag-token-1234567890' } });
    const withEnv = await fetch(`http://127.0.0.1:${port}/api/stats`, { headers: { Authorization: 'Bearer env-token-12345678901' } });
    expect([withFlag.status, withEnv.status]).toEqual([200, 401]);
    hub.child.kill('SIGTERM');
    await hub.exited;
  });

  it('keeps an acknowledged job and acknowledged results when killed with SIGKILL, then completes the job after a restart', async () => {
    const dataDir = tempDir();
    const token = 'kill-test-token-0123456789';
    const args = ['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--token', token];
    const first = startHub(args);
    const url = `http://127.0.0.1:${/listening on port (\d+)/.exec(await first.ready)?.[1]}`;
    const api = async (u: string, method: string, path: string, body?: unknown) =>
      (await fetch(u + path, { method, headers: { Authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) })).json() as Promise<Job>;
    const job = await api(url, 'POST', '/api/jobs', { code: '(n) => n * 3', inputs: { range: { start: 0, end: 50 } }, reduce: 'sum' });
    const device = new TestDevice(url, { autoWork: false });
    await device.connected();
    // Slow start hands out 1, 1, 2 inputs: 4 results acknowledged in all.
    let acknowledged = 0;
    for (let round = 0; round < 3; round++) {
      const grant = (await device.request(10))!;
      const receipt = await device.submit(grant.leaseId, grant.items.map((it) => ({ index: it.index, ok: true as const, json: JSON.stringify(Number(it.input) * 3) })));
      expect(receipt).toEqual({ ok: true, data: { accepted: grant.items.length, dropped: 0 } });
      acknowledged += grant.items.length;
    }
    expect(acknowledged).toBe(4);
    first.child.kill('SIGKILL');
    await first.exited;
    device.close();

    const second = startHub(args);
    const url2 = `http://127.0.0.1:${/listening on port (\d+)/.exec(await second.ready)?.[1]}`;
    expect((await api(url2, 'GET', `/api/jobs/${job.id}`)).progress.completed).toBe(acknowledged);
    const worker = new TestDevice(url2);
    try {
      await worker.connected();
      const done = await waitFor(async () => {
        const j = await api(url2, 'GET', `/api/jobs/${job.id}`);
        return j.status === 'completed' ? j : undefined;
      });
      expect(done.result).toBe(3 * ((49 * 50) / 2));
      expect(done.progress.completed).toBe(50);
    } finally {
      worker.close();
    }

    const backup = join(dataDir, 'copy.db');
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'src/backup-cli.ts', '--out', backup, '--data-dir', dataDir], { cwd: SERVER_DIR, encoding: 'utf8' });
    expect(out).toContain('Backed up');
    const copy = new Database(backup, { readonly: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(copy.prepare('SELECT status FROM jobs WHERE id = ?').get(job.id)).toEqual({ status: 'completed' });
    } finally {
      copy.close();
    }
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('exits with a message naming the flag when configuration is bad', async () => {
    const hub = startHub(['--port', 'eighty', '--data-dir', tempDir()]);
    expect(await hub.exited).toBe(2);
    expect(hub.output()).toContain('--port must be an integer from 0 to 65535');
  });
});
