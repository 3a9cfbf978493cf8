/** Runs the `edgeswarm` command (client/dist/cli.js, as `npx edgeswarm` does) as a real process, for tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');
export const CLI = resolve(REPO_ROOT, 'client/dist/cli.js');

export interface CliRun {
  child: ChildProcess;
  /** Resolves when the process ends. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  stdout(): string;
  stderr(): string;
}

export function startCli(args: string[], options: { env?: Record<string, string | undefined>; input?: string; cwd?: string } = {}): CliRun {
  const env: Record<string, string | undefined> = { ...process.env, EDGESWARM_URL: undefined, EDGESWARM_TOKEN: undefined, ...options.env };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? REPO_ROOT, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin?.end(options.input ?? '');
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((ok) =>
    child.on('close', (code) => ok({ code, stdout, stderr })),
  );
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

export function cli(args: string[], options: Parameters<typeof startCli>[1] = {}) {
  return startCli(args, options).done;
}
