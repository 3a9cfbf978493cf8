/** Every example of examples/README.md, run by the very command the README shows, against a real hub and agent. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestHub, type TestHub } from './support/test-hub.ts';
import { REPO_ROOT } from './support/cli.ts';
import { startTestAgent } from './support/test-agent.ts';

const shell = promisify(exec);
let hub: TestHub;
let agent: ReturnType<typeof startTestAgent>;
let cache: string;

/** The command of each example, from the README's table (the third cell's first code span). */
function readmeCommands(): Map<string, string> {
  const readme = readFileSync(join(REPO_ROOT, 'examples/README.md'), 'utf8');
  const commands = new Map<string, string>();
  for (const line of readme.split('\n')) {
    const cells = line.split(' | ');
    const name = /\[`([\w-]+)`\]/.exec(cells[0] ?? '')?.[1];
    const command = /`([^`]+)`/.exec(cells[2] ?? '')?.[1];
    if (name && command) commands.set(name, command);
  }
  return commands;
}

async function runExample(name: string): Promise<string> {
  const command = readmeCommands().get(name);
  expect(command, `examples/README.md shows a command for ${name}`).toBeDefined();
  const { stdout } = await shell(command ?? 'false', {
    cwd: REPO_ROOT,
    env: { ...process.env, EDGESWARM_URL: hub.url, EDGESWARM_TOKEN: hub.token, EDGESWARM_CACHE_DIR: cache },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

beforeAll(async () => {
  hub = await startTestHub();
  cache = mkdtempSync(join(tmpdir(), 'edgeswarm-examples-'));
  agent = startTestAgent(hub.url, { name: 'examples agent' });
});

afterAll(async () => {
  await agent.stop(0);
  await hub.close();
  rmSync(cache, { recursive: true, force: true });
});

describe('examples/README.md', () => {
  it('lists the three examples', () => {
    expect([...readmeCommands().keys()]).toEqual(['hash-search', 'wasm-primes', 'word-count']);
  });

  it('hash-search (an npm library): the 7 nonces below 800,000 whose SHA-256 starts with 0000', async () => {
    const lines = (await runExample('hash-search')).trimEnd().split('\n');
    expect(lines).toHaveLength(40);
    expect(lines.flatMap((line) => JSON.parse(line) as number[])).toEqual([299833, 502863, 531577, 546432, 564655, 570558, 582477]);
  });

  it('wasm-primes (a WebAssembly kernel): 664579 primes below 10,000,000', async () => {
    expect(await runExample('wasm-primes')).toBe('664579\n');
  });

  it('word-count (a shared file): as many words as wc -w counts', async () => {
    const output = await runExample('word-count');
    const text = readFileSync(join(REPO_ROOT, 'examples/word-count/corpus.txt'), 'utf8');
    expect(output.trimEnd().split('\n').at(-1)).toBe(String(text.split(/\s+/).filter(Boolean).length));
    // The 64 chunks of 64 KiB in the command cover the whole file.
    expect(text.length).toBeGreaterThan(63 * 64 * 1024);
    expect(text.length).toBeLessThanOrEqual(64 * 64 * 1024);
  });
});
