import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_FILE, resolveAdminToken, tokenMatches } from './admin-token.ts';

let dataDir: string;
let tokenFile: string;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'edgeswarm-'));
  tokenFile = join(dataDir, ADMIN_TOKEN_FILE);
});

afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

const mode = (file: string): number => statSync(file).mode & 0o777;

describe('resolveAdminToken', () => {
  it('generates a token and writes it to <dataDir>/admin-token with mode 0600', () => {
    const token = resolveAdminToken(dataDir, undefined);
    expect(tokenFile).toBe(join(dataDir, 'admin-token'));
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(mode(tokenFile)).toBe(0o600);
  });

  it('generates a long URL-safe token', () => {
    const token = resolveAdminToken(dataDir, undefined);
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('generates a different token in a different data dir', () => {
    const other = mkdtempSync(join(tmpdir(), 'edgeswarm-'));
    try {
      expect(resolveAdminToken(other, undefined)).not.toBe(resolveAdminToken(dataDir, undefined));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('reuses the stored token on the next start', () => {
    const first = resolveAdminToken(dataDir, undefined);
    const second = resolveAdminToken(dataDir, undefined);
    expect(second).toBe(first);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(first);
  });

  it('reuses a token file written by hand, trimming whitespace, and tightens its mode to 0600', () => {
    writeFileSync(tokenFile, '  hand-written-token-123456\n\n', { mode: 0o644 });
    chmodSync(tokenFile, 0o644);
    expect(resolveAdminToken(dataDir, undefined)).toBe('hand-written-token-123456');
    expect(mode(tokenFile)).toBe(0o600);
  });

  it('replaces an empty token file with a new token', () => {
    writeFileSync(tokenFile, '\n');
    const token = resolveAdminToken(dataDir, undefined);
    expect(token.length).toBeGreaterThan(0);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(mode(tokenFile)).toBe(0o600);
  });

  it('returns a given token and writes no file', () => {
    expect(resolveAdminToken(dataDir, 'given-token-0123456789')).toBe('given-token-0123456789');
    expect(existsSync(tokenFile)).toBe(false);
  });

  it('prefers a given token over a stored one and leaves the file alone', () => {
    const stored = resolveAdminToken(dataDir, undefined);
    expect(resolveAdminToken(dataDir, 'given-token-0123456789')).toBe('given-token-0123456789');
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(stored);
  });

  it('fails when the data dir does not exist', () => {
    expect(() => resolveAdminToken(join(dataDir, 'missing'), undefined)).toThrow(/ENOENT/);
  });
});

describe('tokenMatches', () => {
  const expected = 'secret-token-0123456789';

  it('is true for the same token', () => {
    expect(tokenMatches(expected, 'secret-token-0123456789')).toBe(true);
  });

  it.each([
    ['a different token of the same length', 'secret-token-0123456780'],
    ['a longer token with the same prefix', `${expected}x`],
    ['a shorter prefix', 'secret-token'],
    ['a different case', expected.toUpperCase()],
    ['the empty string', ''],
    ['undefined', undefined],
    ['null', null],
  ])('is false for %s', (_label, presented) => {
    expect(tokenMatches(expected, presented)).toBe(false);
  });

  it('compares bytes, so a multi-byte token only matches itself', () => {
    expect(tokenMatches('tøken-ünïcode-123', 'tøken-ünïcode-123')).toBe(true);
    // Same number of UTF-16 code units, different UTF-8 lengths.
    expect(tokenMatches('tøken-ünïcode-123', 'token-unicode-123')).toBe(false);
  });
});
