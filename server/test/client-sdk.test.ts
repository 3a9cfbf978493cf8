/** The SDK (@edgeswarm/client) from plain Node.js ESM scripts, as child processes, against a real hub and agent. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { REPO_ROOT } from './support/cli.ts';
import { startTestAgent } from './support/test-agent.ts';
import { FIXTURE_CFG, THROW_LINE, expectedResult, fixtureData } from '../../e2e/fixtures/full-module/expected.ts';

const run = promisify(execFile);
let hub: TestHub;
let agent: ReturnType<typeof startTestAgent>;
let dir: string;

beforeAll(async () => {
  hub = await startTestHub();
  // Inside the repository, so `import '@edgeswarm/client'` resolves as it does for a user's script at the root.
  dir = mkdtempSync(join(REPO_ROOT, 'node_modules/.cache/edgeswarm-sdk-'));
  agent = startTestAgent(hub.url, { name: 'sdk test agent' });
});

afterAll(async () => {
  await agent.stop(0);
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

async function node(script: string, env: Record<string, string> = {}) {
  const file = join(dir, `script-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  const { stdout } = await run(process.execPath, [file], {
    cwd: REPO_ROOT,
    env: { ...process.env, EDGESWARM_URL: hub.url, EDGESWARM_TOKEN: hub.token, EDGESWARM_CACHE_DIR: join(dir, 'cache'), ...env },
  });
  return stdout;
}

describe('the SDK from plain Node.js', () => {
  it('runs the committed example script (examples/sdk/run-primes.mjs)', async () => {
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'examples/sdk/run-primes.mjs')], {
      cwd: REPO_ROOT,
      env: { ...process.env, EDGESWARM_URL: hub.url, EDGESWARM_TOKEN: hub.token, EDGESWARM_CACHE_DIR: join(dir, 'cache') },
    });
    expect(stdout).toContain('primes below 10,000,000: 664579');
    expect(stdout).toContain('block 0: 9592 primes\nblock 1: 8392 primes');
    expect(stdout).toMatch(/input 0 failed \(work_error\): .*RangeError: block -1 is outside/);
  });

  it('runs a module with two shared files: the exact sum, every result in order with progress, and typed errors', async () => {
    const data = fixtureData();
    writeFileSync(join(dir, 'data.bin'), data);
    const script = `
      import { connect, range, BuildError, AuthError, ValidationError, JobFailedError, CancelledError } from '@edgeswarm/client';
      import { readFileSync } from 'node:fs';
      const hub = connect();
      const work = ${JSON.stringify(join(REPO_ROOT, 'e2e/fixtures/full-module/work.ts'))};
      const shared = { data: ${JSON.stringify(join(dir, 'data.bin'))}, cfg: ${JSON.stringify(FIXTURE_CFG)} };
      const out = {};
      const sum = await hub.run(work, range(0, 30), { reduce: 'sum', shared });
      out.sum = (await sum.done).result;
      const collect = await hub.run(work, (function* () { for (let n = 29; n >= 0; n -= 3) yield n; })(), { shared, name: 'collect' });
      const events = [];
      collect.on('progress', (p) => events.push(p.completed));
      out.results = [];
      for await (const { index, value } of collect.results()) out.results.push([index, value]);
      out.lastProgress = events.at(-1);
      out.uploads = collect.uploads.map((u) => u.what + ':' + u.uploaded);
      const errors = {};
      const factor = 2;
      try { await hub.run((n) => n * factor, [1]); } catch (e) { errors.closure = [e instanceof BuildError, e.code, e.message]; }
      try { await connect({ token: 'wrong-token' }).run((n) => n, [1]); } catch (e) { errors.auth = [e instanceof AuthError, e.code]; }
      try { await hub.run((n) => n, [1], { timeoutMs: 5 }); } catch (e) { errors.validation = [e instanceof ValidationError, e.code, e.field]; }
      try { await (await hub.run(work, [-1], { shared, maxAttempts: 1 })).done; } catch (e) { errors.failed = [e instanceof JobFailedError, e.code, e.index, e.deviceMessage]; }
      const controller = new AbortController();
      const slow = await hub.run((n) => { const end = Date.now() + 60000; while (Date.now() < end); return n; }, [1, 2], { signal: controller.signal });
      controller.abort();
      try { await slow.done; } catch (e) { errors.cancelled = [e instanceof CancelledError, e.code, e.job?.status]; }
      out.errors = errors;
      console.log(JSON.stringify(out));
    `;
    const out = JSON.parse(await node(script)) as {
      sum: number;
      results: [number, number][];
      lastProgress: number;
      uploads: string[];
      errors: Record<string, unknown[]>;
    };
    let sum = 0;
    for (let n = 0; n < 30; n++) sum += expectedResult(n, data);
    expect(out.sum).toBe(sum);
    const order = [29, 26, 23, 20, 17, 14, 11, 8, 5, 2];
    expect(out.results).toEqual(order.map((n, index) => [index, expectedResult(n, data)]));
    expect(out.lastProgress).toBe(order.length);
    expect(out.uploads).toEqual(['bundle:false', 'shared.data:false', 'shared.cfg:false']);
    expect(out.errors['closure']).toEqual([true, 'build_error', expect.stringContaining('uses "factor", a variable from outside it') as unknown]);
    expect(out.errors['auth']).toEqual([true, 'unauthorized']);
    expect(out.errors['validation']).toEqual([true, 'invalid_job', 'timeoutMs']);
    expect(out.errors['failed']?.slice(0, 3)).toEqual([true, 'work_error', 0]);
    expect(out.errors['failed']?.[3]).toMatch(new RegExp(`RangeError: negative input -1\\n    at work \\(e2e/fixtures/full-module/work\\.ts:${THROW_LINE}:`));
    expect(out.errors['cancelled']).toEqual([true, 'cancelled', 'cancelled']);
  });
});
