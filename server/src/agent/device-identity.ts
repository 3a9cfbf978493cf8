/** The agent's device ids: random, kept in one JSON file beside the agent (`{"deviceIds": [...]}`), one id per device it runs. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

/**
 * The ids of `count` devices: those kept in `path` first, new ones added (and saved) when there
 * are fewer. Running fewer devices later keeps the ids of the others in the file.
 */
export function loadDeviceIds(path: string, count: number): string[] {
  const ids = readIds(path);
  if (ids.length >= count) return ids.slice(0, count);
  while (ids.length < count) ids.push(generateDeviceId());
  try {
    mkdirSync(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify({ deviceIds: ids }, null, 2)}\n`);
    renameSync(temp, path); // never a half-written identity file
  } catch (err) {
    throw new IdentityError(`cannot write the device id file ${path}: ${(err as Error).message}`);
  }
  return ids;
}
