/**
 * The agent's device ids: random, kept in one JSON file beside the agent (`{"deviceIds": [...]}`), one
 * id per device it runs. A running agent claims its ids with a lock file each, so a second agent started
 * from the same folder takes other ids (a device identity is one device: verified jobs need distinct ones).
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** What the hub accepts in the handshake (`deviceHelloSchema`). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

export const DEFAULT_ID_FILE = 'edgeswarm-device.json';

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

/** 22 base64url symbols: 132 random bits, like the volunteer page's ids. */
export function generateDeviceId(): string {
  return randomBytes(17).toString('base64url').slice(0, 22);
}

function readIds(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new IdentityError(`cannot read the device id file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new IdentityError(`the device id file ${path} is not JSON; fix it, or delete it to start as new devices`);
  }
  const ids = (parsed as { deviceIds?: unknown } | null)?.deviceIds;
  if (!Array.isArray(ids) || !ids.every((id): id is string => typeof id === 'string' && DEVICE_ID_PATTERN.test(id))) {
    throw new IdentityError(
      `the device id file ${path} must hold {"deviceIds": [...]} with ids of 8 to 64 characters A-Z a-z 0-9 _ -; fix it, or delete it to start as new devices`,
    );
  }
  return ids;
}

function writeIds(path: string, ids: readonly string[]): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify({ deviceIds: ids }, null, 2)}\n`);
    renameSync(temp, path); // never a half-written identity file
  } catch (err) {
    throw new IdentityError(`cannot write the device id file ${path}: ${(err as Error).message}`);
  }
}

/**
 * The ids of `count` devices: those kept in `path` first, new ones added (and saved) when there
 * are fewer. Running fewer devices later keeps the ids of the others in the file.
 */
export function loadDeviceIds(path: string, count: number): string[] {
  const ids = readIds(path);
  if (ids.length >= count) return ids.slice(0, count);
  while (ids.length < count) ids.push(generateDeviceId());
  writeIds(path, ids);
  return ids;
}

/** Whether a process runs (signal 0 checks without signalling; EPERM: it runs as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ClaimedIds {
  ids: string[];
  /** Ids of the file that another running agent holds (skipped). */
  inUse: number;
  /** Removes this process's lock files (also done when the process exits). */
  release(): void;
}

/**
 * Takes the lock file `lock` for `pid`: created whole and at once (a temporary file hard-linked into
 * place, so no one reads it half written). A lock whose process is gone is taken over by moving it
 * aside first (only one taker can), and put back if it turned out to be fresh. False when a live
 * process holds it.
 */
export function acquireLock(lock: string, pid: number, alive: (pid: number) => boolean): boolean {
  const holderOf = (file: string): number => {
    try {
      return Number(readFileSync(file, 'utf8').trim());
    } catch {
      return NaN;
    }
  };
  const held = (holder: number) => Number.isInteger(holder) && holder > 0 && holder !== pid && alive(holder);
  for (let attempt = 0; attempt < 3; attempt++) {
    const temp = `${lock}.${pid}.${attempt}.tmp`;
    try {
      writeFileSync(temp, String(pid));
      linkSync(temp, lock);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new IdentityError(`cannot write the lock file ${lock}: ${(err as Error).message}`);
      }
    } finally {
      try {
        unlinkSync(temp);
      } catch {
        // Not created.
      }
    }
    if (held(holderOf(lock))) return false;
    // Stale (or unreadable): move it aside, then look again at what was moved.
    const aside = `${lock}.${pid}.${attempt}.stale`;
    try {
      renameSync(lock, aside);
    } catch {
      continue; // someone else moved it first
    }
    const moved = holderOf(aside);
    if (held(moved)) {
      // A fresh lock was created between the two looks: give it back.
      try {
        linkSync(aside, lock);
      } catch {
        // Someone holds it now anyway.
      }
      unlinkSync(aside);
      return false;
    }
    unlinkSync(aside);
  }
  return false;
}

/**
 * Like `loadDeviceIds`, but each id is claimed with a lock file (`PATH.ID.lock` holding the pid):
 * ids that another live process holds are skipped and new ones added instead, so two agents started
 * from one folder are distinct devices. A lock left by a process that died is taken over.
 */
export function claimDeviceIds(path: string, count: number, pid = process.pid, alive: (pid: number) => boolean = processAlive): ClaimedIds {
  const ids = readIds(path);
  const claimed: string[] = [];
  const locks: string[] = [];
  let inUse = 0;
  const tryLock = (id: string): boolean => {
    const lock = `${path}.${id}.lock`;
    if (!acquireLock(lock, pid, alive)) return false;
    locks.push(lock);
    return true;
  };
  for (const id of ids) {
    if (claimed.length === count) break;
    if (tryLock(id)) claimed.push(id);
    else inUse++;
  }
  const added: string[] = [];
  while (claimed.length < count) {
    const id = generateDeviceId();
    if (!tryLock(id)) continue;
    claimed.push(id);
    added.push(id);
  }
  if (added.length > 0) {
    // Read, add, write under the file's own lock, so agents starting together do not lose each other's ids.
    const fileLock = `${path}.lock`;
    const deadline = Date.now() + 2_000;
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    let locked = acquireLock(fileLock, pid, alive);
    while (!locked && Date.now() < deadline) {
      Atomics.wait(sleeper, 0, 0, 20);
      locked = acquireLock(fileLock, pid, alive);
    }
    try {
      writeIds(path, [...readIds(path), ...added]); // (after 2 s without the lock, written anyway)
    } finally {
      if (locked) unlinkSync(fileLock);
    }
  }
  const release = (): void => {
    process.removeListener('exit', release);
    for (const lock of locks.splice(0)) {
      try {
        unlinkSync(lock);
      } catch {
        // Already gone.
      }
    }
  };
  process.once('exit', release);
  return { ids: claimed, inUse, release };
}
