/** The agent's id file: created, reused, extended, never overwritten when damaged. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityError, claimDeviceIds, loadDeviceIds } from './device-identity.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempFile = (name = 'edgeswarm-device.json') => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-ids-'));
  dirs.push(dir);
  return join(dir, name);
};

describe('loadDeviceIds', () => {
  it('creates ids of 22 URL-safe characters, keeps them in the file and returns the same ones later', () => {
    const file = tempFile();
    const first = loadDeviceIds(file, 2);
    expect(first).toHaveLength(2);
    for (const id of first) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(first).size).toBe(2);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ deviceIds: first });
    expect(loadDeviceIds(file, 2)).toEqual(first);
  });

  it('adds ids for more devices and keeps the others when fewer run', () => {
    const file = tempFile();
    const [one] = loadDeviceIds(file, 1);
    const three = loadDeviceIds(file, 3);
    expect(three[0]).toBe(one);
    expect(loadDeviceIds(file, 1)).toEqual([one]);
    expect(loadDeviceIds(file, 3)).toEqual(three);
  });

  it('creates missing directories', () => {
    const file = join(tempFile('nested'), 'deeper', 'ids.json');
    expect(loadDeviceIds(file, 1)).toHaveLength(1);
  });

  it('refuses a damaged file instead of replacing the identity in it', () => {
    const file = tempFile();
    writeFileSync(file, '{"deviceIds": ["short"]}');
    expect(() => loadDeviceIds(file, 1)).toThrow(IdentityError);
    writeFileSync(file, 'not json');
    expect(() => loadDeviceIds(file, 1)).toThrow(/is not JSON/);
    expect(readFileSync(file, 'utf8')).toBe('not json');
  });
});

describe('claimDeviceIds', () => {
  it('gives a second agent of the same folder other ids while the first runs, and the first ids back once it is gone', () => {
    const file = tempFile();
    const running = new Set([111]);
    const alive = (pid: number) => running.has(pid);
    const first = claimDeviceIds(file, 2, 111, alive);
    const second = claimDeviceIds(file, 1, 222, alive);
    expect(second.inUse).toBe(2);
    expect(first.ids).not.toContain(second.ids[0]);
    expect(JSON.parse(readFileSync(file, 'utf8')).deviceIds).toEqual([...first.ids, ...second.ids]);
    // The first agent died without cleaning up: its ids are taken over.
    running.clear();
    const third = claimDeviceIds(file, 2, 333, alive);
    expect(third.ids).toEqual(first.ids);
    expect(third.inUse).toBe(0);
    second.release();
    third.release();
  });

  it('frees its ids when released, so the next agent gets the same ones', () => {
    const file = tempFile();
    const a = claimDeviceIds(file, 1, 111, () => true);
    a.release();
    expect(claimDeviceIds(file, 1, 222, () => true).ids).toEqual(a.ids);
  });
});

describe('claimDeviceIds across processes', () => {
  it('gives agents started together from one folder distinct ids, all kept in the file', async () => {
    const file = tempFile();
    claimDeviceIds(file, 2, 999, () => false).release(); // the folder already has two ids: only one agent may run as them
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const module = fileURLToPath(new URL('./device-identity.ts', import.meta.url));
    const script = `import { claimDeviceIds } from ${JSON.stringify(module)};
      const { ids } = claimDeviceIds(${JSON.stringify(file)}, 2);
      console.log(ids.join(','));
      setTimeout(() => {}, 1500);`;
    const runs = Array.from({ length: 4 }, () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}`))));
      }),
    );
    const ids = (await Promise.all(runs)).flatMap((line) => line.split(','));
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);
    const kept = new Set(JSON.parse(readFileSync(file, 'utf8')).deviceIds as string[]);
    expect(ids.every((id) => kept.has(id))).toBe(true);
  }, 30_000);

  it('takes over a lock file that names no live process (empty, garbage or dead)', () => {
    const file = tempFile();
    const first = claimDeviceIds(file, 1, 111, () => false);
    first.release();
    writeFileSync(`${file}.${first.ids[0]}.lock`, '');
    expect(claimDeviceIds(file, 1, 222, () => true).ids).toEqual(first.ids);
  });
});
