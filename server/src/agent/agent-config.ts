/** The device agent's command line (`npm run device -- --hub URL ...`), parsed with node:util parseArgs and checked with messages that name the flag. */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { DEFAULT_ID_FILE } from './device-identity.ts';
import { DEFAULT_MEMORY_MB } from './thread-pool.ts';

export interface AgentConfig {
  /** The hubs' origins, e.g. `http://127.0.0.1:8080`: the devices use the first that answers, and move on when it dies. */
  hubUrls: string[];
  /** Worker threads of the one pool all devices share. */
  threads: number;
  devices: number;
  /** Name shown on the dashboard; with several devices each gets ` #k` appended. */
  name: string;
  /** Absolute path of the JSON file that keeps the device ids. */
  idFile: string;
  /** Heap limit of each worker thread (old generation), in MiB. */
  memoryMb: number;
  /** A private pool's join token (the hub's --join-token), if any. */
  joinToken: string | undefined;
  /** Pause while the machine's load average per core, not counting this agent's busy threads, is above this; null: never. */
  maxLoad: number | null;
  /** What to do while the machine runs on battery. */
  onBattery: 'pause' | 'run';
  help: boolean;
}

export interface AgentDefaults {
  /** `os.availableParallelism()`. */
  cpus: number;
  hostname: string;
  /** Where relative paths are resolved: `INIT_CWD` (npm runs scripts inside the workspace) or the cwd. */
  cwd: string;
  /** `EDGESWARM_JOIN_TOKEN`, used when --join-token is not given. */
  joinToken?: string | undefined;
}

export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

export const MAX_NAME_CHARS = 100;
export const MAX_DEVICES = 1000;

export const USAGE = `Usage: npm run device -- --hub URL[,URL...] [--threads T] [--devices N] [--name NAME] [--id-file PATH] [--memory-mb M]
  --hub URL,...    the hub's address, e.g. http://192.168.1.20:8080 (required); with several hubs of one network,
                   their addresses separated by commas: the devices stay on the first that answers and move to
                   the next when their hub dies
  --threads T      worker threads running job code, shared by all devices (default: CPUs - 1, at least 1)
  --devices N      devices to run in this process, each with its own connection and id (default 1);
                   each reports its share of the threads to the hub (at least 1)
  --name NAME      name shown on the dashboard (default: this machine's host name)
  --id-file PATH   file that keeps the device ids (default ./${DEFAULT_ID_FILE})
  --memory-mb M    heap limit of each worker thread in MiB (default ${DEFAULT_MEMORY_MB})
  --join-token T   a private pool's join token (the join= value of the volunteer URL the hub printed;
                   default: EDGESWARM_JOIN_TOKEN)
  --max-load L     pause while the machine's 1-minute load average per core, not counting this agent's own
                   busy threads, is above L (e.g. 0.8); resume once it is back under (default: never pause)
  --on-battery A   pause or run while the machine runs on battery (Linux: /sys/class/power_supply; default run)`;

const OPTIONS = {
  hub: { type: 'string' },
  threads: { type: 'string' },
  devices: { type: 'string' },
  name: { type: 'string' },
  'id-file': { type: 'string' },
  'memory-mb': { type: 'string' },
  'join-token': { type: 'string' },
  'max-load': { type: 'string' },
  'on-battery': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseAgentArgs(argv: string[], defaults: AgentDefaults): AgentConfig {
  const { values } = parse(argv);
  const help = values.help === true;
  const defaultThreads = Math.max(1, defaults.cpus - 1);
  const name = values.name ?? defaults.hostname.slice(0, MAX_NAME_CHARS);
  if (name.length > MAX_NAME_CHARS) throw new AgentConfigError(`--name must be at most ${MAX_NAME_CHARS} characters, got ${name.length}`);
  const idFile = values['id-file'] ?? DEFAULT_ID_FILE;
  if (idFile.trim() === '') throw new AgentConfigError('--id-file must be a file path, got an empty value');
  return {
    hubUrls: help && values.hub === undefined ? [] : hubOrigins(values.hub),
    threads: values.threads === undefined ? defaultThreads : integer(values.threads, '--threads', 1, 1024),
    devices: values.devices === undefined ? 1 : integer(values.devices, '--devices', 1, MAX_DEVICES),
    name,
    idFile: resolve(defaults.cwd, idFile),
    memoryMb: values['memory-mb'] === undefined ? DEFAULT_MEMORY_MB : integer(values['memory-mb'], '--memory-mb', 32, 65_536),
    joinToken: joinToken(values['join-token'], defaults.joinToken),
    maxLoad: values['max-load'] === undefined ? null : positiveNumber(values['max-load'], '--max-load', 1000),
    onBattery: onBattery(values['on-battery']),
    help,
  };
}

function positiveNumber(text: string, flag: string, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) throw new AgentConfigError(`${flag} must be a number above 0 and at most ${max}, got "${text}"`);
  return n;
}

function onBattery(text: string | undefined): 'pause' | 'run' {
  if (text === undefined || text === 'run') return 'run';
  if (text === 'pause') return 'pause';
  throw new AgentConfigError(`--on-battery must be "pause" or "run", got "${text}"`);
}

function joinToken(flag: string | undefined, env: string | undefined): string | undefined {
  const [value, source] = flag !== undefined ? [flag, '--join-token'] : [env ?? '', 'EDGESWARM_JOIN_TOKEN'];
  if (value === '') {
    if (flag !== undefined) throw new AgentConfigError('--join-token must not be empty');
    return undefined;
  }
  if (!/^[A-Za-z0-9_-]{8,128}$/.test(value)) throw new AgentConfigError(`${source} must be 8 to 128 letters, digits, "-" or "_"`);
  return value;
}

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    throw new AgentConfigError((err as Error).message);
  }
}

function hubOrigins(text: string | undefined): string[] {
  if (text === undefined) throw new AgentConfigError('--hub is required: the hub address, e.g. --hub http://192.168.1.20:8080');
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new AgentConfigError(`--hub must be one URL or URLs separated by commas, got an empty entry in "${text}"`);
  const origins = parts.map(hubOrigin);
  const twice = origins.find((o, i) => origins.indexOf(o) !== i);
  if (twice !== undefined) throw new AgentConfigError(`--hub lists ${twice} twice`);
  return origins;
}

function hubOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AgentConfigError(`--hub must be a URL such as http://192.168.1.20:8080, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AgentConfigError(`--hub must start with http:// or https://, got "${text}"`);
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    // Not echoed whole: a pasted dashboard URL carries the admin token in its fragment.
    const shown = `${url.origin}${url.pathname}${url.search === '' ? '' : '?…'}${url.hash === '' ? '' : '#…'}`;
    throw new AgentConfigError(`--hub must be the hub's address alone, such as ${url.origin}, got "${shown}"`);
  }
  return url.origin;
}

function integer(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new AgentConfigError(`${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return n;
}

/**
 * Threads each device reports to the hub: the pool's threads split between the devices (the
 * first ones get the remainder), at least 1 each, so the hub's fleet total matches this machine
 * whenever devices ≤ threads.
 */
export function threadShares(threads: number, devices: number): number[] {
  const base = Math.floor(threads / devices);
  const extra = threads % devices;
  return Array.from({ length: devices }, (_, k) => Math.max(1, base + (k < extra ? 1 : 0)));
}

/** Dashboard names: the name alone for one device, `NAME #k` for several (cut to fit). */
export function deviceNames(name: string, devices: number): string[] {
  if (devices === 1) return [name];
  return Array.from({ length: devices }, (_, k) => {
    const suffix = ` #${k + 1}`;
    return name.slice(0, MAX_NAME_CHARS - suffix.length) + suffix;
  });
}
