/** The `edgeswarm` command as a real process against a real hub and agent: results, exit codes, error positions, uploads, Ctrl-C and every command's help. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from '@edgeswarm/shared';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { REPO_ROOT, cli, startCli } from './support/cli.ts';
import { startTestAgent } from './support/test-agent.ts';
import { FIXTURE_CFG, THROW_LINE, expectedResult, fixtureData } from '../../e2e/fixtures/full-module/expected.ts';

const FIXTURE = join(REPO_ROOT, 'e2e/fixtures/full-module/work.ts');
let hub: TestHub;
let agent: ReturnType<typeof startTestAgent>;
let dir: string;
let data: Uint8Array;
let env: Record<string, string>;
let shared: string[];

beforeAll(async () => {
  hub = await startTestHub();
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-cli-'));
  data = fixtureData();
  writeFileSync(join(dir, 'data.bin'), data);
  writeFileSync(join(dir, 'cfg.json'), JSON.stringify(FIXTURE_CFG));
  shared = ['--shared', `data=${join(dir, 'data.bin')}`, '--shared', `cfg=${join(dir, 'cfg.json')}`];
  env = { EDGESWARM_URL: hub.url, EDGESWARM_TOKEN: hub.token, EDGESWARM_CACHE_DIR: join(dir, 'cache') };
  agent = startTestAgent(hub.url, { name: 'cli test agent' });
});

afterAll(async () => {
  await agent.stop(0);
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('edgeswarm run', () => {
  it('builds a module with a helper, an npm package and WebAssembly, uploads it with two shared files, and prints the exact sum', async () => {
    const run = await cli(['run', FIXTURE, '--range', '0:40', '--reduce', 'sum', ...shared], { env });
    expect(run.stderr).toMatch(/bundle: sha256:[0-9a-f]{64} \(\d+ bytes\) (uploaded|already on the hub)/);
    expect(run.stderr).toContain(`shared.data: sha256:`);
    expect(run.code).toBe(0);
    let sum = 0;
    for (let n = 0; n < 40; n++) sum += expectedResult(n, data);
    expect(run.stdout).toBe(`${sum}\n`);
    // Plain progress lines on a pipe (no terminal), ending with the final counts.
    expect(run.stderr).toMatch(/completed, 40\/40 done, 0 failed\n/);
  });

  it('prints every result of a collect job as NDJSON in input order, from a file of inputs, from stdin, or into --out', async () => {
    const inputs = [5, 3, 9, 0, 7];
    writeFileSync(join(dir, 'inputs.json'), JSON.stringify(inputs));
    const fromFile = await cli(['run', FIXTURE, '--inputs', join(dir, 'inputs.json'), ...shared], { env });
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout.trimEnd().split('\n').map(Number)).toEqual(inputs.map((n) => expectedResult(n, data)));
    const fromStdin = await cli(['run', FIXTURE, '--stdin', ...shared, '--out', join(dir, 'out.ndjson')], { env, input: '2\n\n4\n' });
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout).toBe('');
    expect(readFileSync(join(dir, 'out.ndjson'), 'utf8')).toBe(`${expectedResult(2, data)}\n${expectedResult(4, data)}\n`);
  });

  it('uploads nothing the second time the same module and files are run', async () => {
    const first = await cli(['run', FIXTURE, '--range', '0:2', ...shared], { env });
    expect(first.code).toBe(0);
    const again = await cli(['run', FIXTURE, '--range', '0:2', ...shared], { env });
    expect(again.code).toBe(0);
    expect(again.stderr.match(/already on the hub/g)).toHaveLength(3);
    expect(again.stderr).not.toContain(' uploaded');
    // `build` prints the hash that `run` uploads.
    const build = await cli(['build', FIXTURE]);
    const hex = /^sha256:([0-9a-f]{64})$/m.exec(build.stdout)?.[1];
    expect(again.stderr).toContain(`bundle: sha256:${hex} `);
    expect(build.stdout).toMatch(/^\d+ bytes$/m);
    expect(build.stdout).toContain('@noble/hashes');
  });

  it("exits 1 when the job fails, reporting the device's error at the work module's own line", async () => {
    const run = await cli(['run', FIXTURE, '--stdin', ...shared, '--max-attempts', '1'], { env, input: '1\n-1\n' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/failed \(work_error\) at input 1: .*RangeError: negative input -1/);
    expect(run.stderr).toMatch(new RegExp(`at work \\(e2e/fixtures/full-module/work\\.ts:${THROW_LINE}:\\d+\\)`));
    expect(run.stderr).not.toMatch(/edgeswarm-bundle-/);
    // With --json the final (failed) Job is still printed, on stdout's last line.
    const json = await cli(['run', FIXTURE, '--stdin', '--json', ...shared, '--max-attempts', '1'], { env, input: '-1\n' });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout.trimEnd().split('\n').at(-1) ?? '')).toMatchObject({ status: 'failed', error: { code: 'work_error', input: 0 } });
    // Later, `status` maps it the same way (the source map was kept in the cache folder).
    const id = /job (job_[A-Za-z0-9_-]+) failed/.exec(run.stderr)?.[1] ?? '';
    const status = await cli(['status', id], { env });
    expect(status.code).toBe(1);
    expect(status.stdout).toContain('status    failed');
  });

  it('exits 2 on a build error or a usage error, naming the problem', async () => {
    writeFileSync(join(dir, 'bad.ts'), "import { readFileSync } from 'node:fs';\nexport default () => readFileSync('/etc/hostname', 'utf8');\n");
    const bad = await cli(['run', join(dir, 'bad.ts'), '--range', '0:1'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/build error: .*bad\.ts:1:\d+: imports the Node\.js built-in "node:fs"/);
    const noInputs = await cli(['run', FIXTURE], { env });
    expect(noInputs.code).toBe(2);
    expect(noInputs.stderr).toContain('give exactly one of --range');
    const badRange = await cli(['run', FIXTURE, '--range', '10'], { env });
    expect(badRange.code).toBe(2);
    expect(badRange.stderr).toContain('--range must be START:END[:STEP]');
    const unknown = await cli(['run', FIXTURE, '--range', '0:1', '--colour', 'red'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--colour'");
    const refused = await cli(['run', FIXTURE, '--range', '0:1', '--timeout-ms', '5'], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--timeout-ms must be an integer from 100 to 3600000');
  });

  it('exits 3 when the hub refuses the token or cannot be reached', async () => {
    const wrong = await cli(['run', FIXTURE, '--range', '0:1'], { env: { ...env, EDGESWARM_TOKEN: 'not-the-token' } });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('the hub refused the token');
    const nowhere = await cli(['jobs', '--hub', 'http://127.0.0.1:9', '--token', 'x'], { env });
    expect(nowhere.code).toBe(3);
    expect(nowhere.stderr).toContain('cannot reach the hub at http://127.0.0.1:9');
  });

  it('prints the final Job with --json, and only the id with --detach; then status, results, jobs and cancel work on it', async () => {
    const json = await cli(['run', FIXTURE, '--range', '0:3', '--reduce', 'max', '--json', ...shared], { env });
    expect(json.code).toBe(0);
    const job = JSON.parse(json.stdout.trimEnd().split('\n').at(-1) ?? '') as Job;
    expect(job).toMatchObject({ status: 'completed', result: Math.max(...[0, 1, 2].map((n) => expectedResult(n, data))) });
    const detached = await cli(['run', FIXTURE, '--range', '0:3', '--detach', '--name', 'detached one', ...shared], { env });
    expect(detached.code).toBe(0);
    const id = detached.stdout.trim();
    expect(id).toMatch(/^job_/);
    await waitFor(async () => ((await hub.api<Job>('GET', `/api/jobs/${id}`)).body.status === 'completed' ? true : undefined));
    const results = await cli(['results', id], { env });
    expect(results.stdout).toBe([0, 1, 2].map((n) => `${expectedResult(n, data)}\n`).join(''));
    const status = await cli(['status', id], { env });
    expect(status.stdout).toMatch(/status {4}completed/);
    expect(status.stdout).toMatch(/bundle {4}sha256:[0-9a-f]{64} \(\d+ bytes\)/);
    expect(status.stdout).toMatch(/shared {4}data: sha256:[0-9a-f]{64} \(3145728 bytes, bytes\)/);
    const jobs = await cli(['jobs'], { env });
    expect(jobs.stdout).toContain(`${id}  completed`);
    const late = await cli(['cancel', id], { env });
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('has already finished');
  });

  it('cancels the job on Ctrl-C and exits 1', async () => {
    // A job no device can finish soon: its inputs take longer than the test waits.
    writeFileSync(join(dir, 'slow.js'), 'export default (n) => { const end = Date.now() + 60_000; while (Date.now() < end); return n; };\n');
    const run = startCli(['run', join(dir, 'slow.js'), '--range', '0:4'], { env });
    const id = await waitFor(() => /(job_[A-Za-z0-9_-]+): (queued|running)/.exec(run.stderr())?.[1], 20_000, 'the job to be submitted');
    run.child.kill('SIGINT');
    const done = await run.done;
    expect(done.code).toBe(1);
    expect(done.stderr).toContain(`cancelling job ${id}`);
    expect(done.stderr).toMatch(/was cancelled/);
    expect((await hub.api<Job>('GET', `/api/jobs/${id}`)).body.status).toBe('cancelled');
  });

  it('has --help on every command', async () => {
    for (const command of ['run', 'build', 'jobs', 'status', 'results', 'cancel']) {
      const help = await cli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain(`Usage: edgeswarm ${command}`);
    }
    const top = await cli(['--help']);
    expect(top.stdout).toContain('Exit codes: 0 done, 1 job failed or cancelled, 2 usage or build error, 3 hub');
  });
});
