/** Wires an agent together: one lazily started thread pool shared by N devices, each with its own connection and id; used by the CLI and by tests. */
import { deviceNames, threadShares, type AgentConfig } from './agent-config.ts';
import { NodeDevice } from './node-device.ts';
import { ThreadPool, memoryLimits, type ThreadPoolOptions } from './thread-pool.ts';
import { MachineWatch, systemMachine, type Machine } from './machine-watch.ts';

/** Printed at start: what the agent does and does not protect against. */
export const TRUST_WARNING =
  "Warning: Job code runs in Node worker threads with memory limits and without require/process/fetch in scope, but Node's vm is not a security boundary: only connect this agent to hubs you trust.";

export interface AgentDeviceInfo {
  /** 1-based, as printed. */
  number: number;
  deviceId: string;
  name: string;
  threads: number;
}

export interface AgentOptions {
  config: Pick<AgentConfig, 'hubUrls' | 'threads' | 'devices' | 'name' | 'memoryMb'> & Partial<Pick<AgentConfig, 'maxLoad' | 'onBattery'>> & { joinToken?: string | undefined };
  deviceIds: readonly string[];
  /** A device's connection events, prefixed with its number. */
  log?: (line: string) => void;
  /** Retrying cannot help (protocol mismatch, threads that cannot start): the CLI exits 1. */
  onFatal?: (message: string) => void;
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
  vmTimeout?: ThreadPoolOptions['vmTimeout'];
  /** What `--max-load` and `--on-battery` read (default: this machine), and how often. */
  machine?: Machine;
  watchIntervalMs?: number;
}

export class Agent {
  readonly pool: ThreadPool;
  readonly devices: NodeDevice[];
  readonly info: AgentDeviceInfo[];
  private readonly watch: MachineWatch;

  constructor(options: AgentOptions) {
    const { config, deviceIds } = options;
    if (deviceIds.length < config.devices) throw new RangeError(`${config.devices} devices need as many ids, got ${deviceIds.length}`);
    this.pool = new ThreadPool({
      threads: config.threads,
      memory: memoryLimits(config.memoryMb),
      vmTimeout: options.vmTimeout,
      onFatal: (err) => options.onFatal?.(err.message),
    });
    const shares = threadShares(config.threads, config.devices);
    const names = deviceNames(config.name, config.devices);
    this.info = shares.map((threads, k) => ({ number: k + 1, deviceId: deviceIds[k] ?? '', name: names[k] ?? config.name, threads }));
    this.devices = this.info.map(
      (d) =>
        new NodeDevice({
          hubUrls: config.hubUrls,
          deviceId: d.deviceId,
          name: d.name,
          threads: d.threads,
          joinToken: config.joinToken,
          pool: this.pool,
          log: (line) => options.log?.(config.devices === 1 ? `device: ${line}` : `device ${d.number}: ${line}`),
          onFatal: options.onFatal,
          reconnectDelayMs: options.reconnectDelayMs,
          reconnectDelayMaxMs: options.reconnectDelayMaxMs,
        }),
    );
    this.watch = new MachineWatch(
      options.machine ?? systemMachine,
      { maxLoad: config.maxLoad ?? null, onBattery: config.onBattery ?? 'run' },
      () => this.pool.running,
      (reason) => {
        options.log?.(reason === null ? 'resuming: the machine is free again' : `pausing: ${reason}`);
        for (const device of this.devices) device.setPaused(reason !== null);
      },
      options.watchIntervalMs,
    );
  }

  /** Connects every device; the pool starts its threads when the first input arrives. */
  start(): void {
    for (const device of this.devices) device.start();
    this.watch.start();
  }

  /** Stops asking for work, gives computed results up to `graceMs` to reach the hub, disconnects and terminates the threads. */
  async stop(graceMs = 2_000): Promise<void> {
    this.watch.stop();
    await Promise.all(this.devices.map((d) => d.stop(graceMs)));
    await this.pool.close();
  }
}
