/** The hub as a real process (`node --import tsx src/main.ts`): flags over env, printed URLs, token file, clean stop. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SERVER_DIR = resolve(import.meta.dirname, '..');
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function startHub(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: SERVER_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const ready = new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`hub did not start:\n${output}`)), 20_000);
    child.stdout?.on('data', () => {
      if (output.includes('Dashboard:')) {
        clearTimeout(timer);
        ok(output);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`hub exited with ${code}:\n${output}`));
    });
  });
  ready.catch(() => {}); // awaited only by tests that expect the hub to start
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return { child, ready, exited, output: () => output };
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

  it('exits with a message naming the flag when configuration is bad', async () => {
    const hub = startHub(['--port', 'eighty', '--data-dir', tempDir()]);
    expect(await hub.exited).toBe(2);
    expect(hub.output()).toContain('--port must be an integer from 0 to 65535');
  });
});
