/** Runs the hub as a real process (`node --import tsx src/main.ts`) for tests that kill, stop and restart it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const SERVER_DIR = resolve(import.meta.dirname, '../..');

export interface HubProcess {
  child: ChildProcess;
  /** Resolves with everything printed so far once the hub printed its URLs. */
  ready: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

export function startHubProcess(args: string[], env: Record<string, string> = {}): HubProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: SERVER_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.on('exit', (code, signal) => ok({ code, signal })),
  );
  return { child, ready, exited, output: () => output };
}

/** A port that was free a moment ago, so a restarted hub can listen where devices reconnect. */
export { freePort } from '../../src/cluster/local-postgres.ts';
