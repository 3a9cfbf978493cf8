/** The agent's machine watch: --max-load counts other processes' load per core, --on-battery reads Linux's power supply. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MachineWatch, linuxPower, pauseReason, type Machine } from './machine-watch.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function powerSupplies(supplies: Record<string, Record<string, string>>): string {
  const root = mkdtempSync(join(tmpdir(), 'edgeswarm-power-'));
  dirs.push(root);
  for (const [name, files] of Object.entries(supplies)) {
    mkdirSync(join(root, name));
    for (const [file, value] of Object.entries(files)) writeFileSync(join(root, name, file), `${value}\n`);
  }
  return root;
}

const machine = (load1: number, cores: number, power: Machine['power'] extends () => infer P ? P : never = 'ac'): Machine => ({ load1: () => load1, cores: () => cores, power: () => power });

describe('the agent’s machine watch', () => {
  it('pauses above --max-load per core, counting only the load of other processes', () => {
    const policy = { maxLoad: 0.8, onBattery: 'run' as const };
    expect(pauseReason(machine(7, 4), policy, 2)).toBe('the load of other processes is 1.25 per core, above --max-load 0.8');
    // The same load, all of it this agent's own busy threads: no pause.
    expect(pauseReason(machine(4, 4), policy, 4)).toBeNull();
    expect(pauseReason(machine(3, 4), policy, 0)).toBeNull();
    expect(pauseReason(machine(99, 4), { maxLoad: null, onBattery: 'run' }, 0)).toBeNull();
  });

  it('pauses on battery only with --on-battery pause', () => {
    expect(pauseReason(machine(0, 4, 'battery'), { maxLoad: null, onBattery: 'pause' }, 0)).toBe('the machine runs on battery (--on-battery pause)');
    expect(pauseReason(machine(0, 4, 'battery'), { maxLoad: null, onBattery: 'run' }, 0)).toBeNull();
    expect(pauseReason(machine(0, 4, 'unknown'), { maxLoad: null, onBattery: 'pause' }, 0)).toBeNull();
  });

  it('reads Linux power supplies: mains online is AC, a discharging battery alone is battery, nothing known is unknown', () => {
    expect(linuxPower(powerSupplies({ AC: { type: 'Mains', online: '1' }, BAT0: { type: 'Battery', status: 'Charging' } }))).toBe('ac');
    expect(linuxPower(powerSupplies({ AC: { type: 'Mains', online: '0' }, BAT0: { type: 'Battery', status: 'Discharging' } }))).toBe('battery');
    expect(linuxPower(powerSupplies({}))).toBe('unknown');
    expect(linuxPower('/nonexistent/power_supply')).toBe('unknown');
  });

  it('says so when the verdict changes, and only then', () => {
    let load = 10;
    const changes: (string | null)[] = [];
    const watch = new MachineWatch({ load1: () => load, cores: () => 2, power: () => 'ac' }, { maxLoad: 1, onBattery: 'run' }, () => 0, (r) => changes.push(r));
    watch.check();
    watch.check();
    load = 1;
    watch.check();
    expect(changes).toEqual(['the load of other processes is 5.00 per core, above --max-load 1', null]);
  });
});
