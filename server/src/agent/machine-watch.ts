/**
 * The agent looks after its machine: it pauses its devices while other processes load the machine (`--max-load`,
 * the 1-minute load average per core, not counting the agent's own busy threads) or while the machine runs on battery
 * (`--on-battery pause`), checked every few seconds, and says why.
 */
import { availableParallelism, loadavg } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type PowerSource = 'ac' | 'battery' | 'unknown';

/** What the watch reads of the machine; tests give their own. */
export interface Machine {
  /** The 1-minute load average (runnable and waiting threads, all processes). */
  load1(): number;
  cores(): number;
  power(): PowerSource;
}

/**
 * Linux's view of the power supply: on AC when a mains supply (or USB-C) is online, on battery when a battery is
 * discharging and none is online; unknown elsewhere (no /sys/class/power_supply, another OS), which never pauses.
 */
export function linuxPower(root = '/sys/class/power_supply'): PowerSource {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return 'unknown';
  }
  const read = (name: string, file: string): string => {
    try {
      return readFileSync(join(root, name, file), 'utf8').trim();
    } catch {
      return '';
    }
  };
  let discharging = false;
  for (const name of names) {
    const type = read(name, 'type');
    if ((type === 'Mains' || type === 'USB') && read(name, 'online') === '1') return 'ac';
    if (type === 'Battery' && read(name, 'status') === 'Discharging') discharging = true;
  }
  return discharging ? 'battery' : 'unknown';
}

export const systemMachine: Machine = {
  load1: () => loadavg()[0] ?? 0,
  cores: () => availableParallelism(),
  power: () => linuxPower(),
};

export interface WatchPolicy {
  maxLoad: number | null;
  onBattery: 'pause' | 'run';
}

/** Why the agent should pause now, in words; null to run. `ownBusy`: this agent's threads running job code. */
export function pauseReason(machine: Machine, policy: WatchPolicy, ownBusy: number): string | null {
  if (policy.onBattery === 'pause' && machine.power() === 'battery') return 'the machine runs on battery (--on-battery pause)';
  if (policy.maxLoad !== null) {
    const cores = Math.max(1, machine.cores());
    const others = Math.max(0, machine.load1() - ownBusy) / cores;
    if (others > policy.maxLoad) return `the load of other processes is ${others.toFixed(2)} per core, above --max-load ${policy.maxLoad}`;
  }
  return null;
}

/** Checks the machine every `intervalMs` and tells `onChange` when the verdict changes (null: run again). */
export class MachineWatch {
  private timer: ReturnType<typeof setInterval> | null = null;
  private last: string | null = null;

  constructor(
    private readonly machine: Machine,
    private readonly policy: WatchPolicy,
    private readonly ownBusy: () => number,
    private readonly onChange: (reason: string | null) => void,
    private readonly intervalMs = 5_000,
  ) {}

  get active(): boolean {
    return this.policy.maxLoad !== null || this.policy.onBattery === 'pause';
  }

  start(): void {
    if (!this.active || this.timer) return;
    this.check();
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  check(): void {
    const reason = pauseReason(this.machine, this.policy, this.ownBusy());
    if (reason === this.last) return;
    this.last = reason;
    this.onChange(reason);
  }
}
