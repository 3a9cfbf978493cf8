import { describe, expect, it } from 'vitest';
import { hashWithoutToken, parseTokenFromHash } from './token.ts';

describe('token in the URL fragment', () => {
  it('reads #token=', () => {
    expect(parseTokenFromHash('#token=abc123')).toBe('abc123');
    expect(parseTokenFromHash('token=abc123')).toBe('abc123');
  });

  it('reads it among other fragment parameters and decodes it', () => {
    expect(parseTokenFromHash('#job=j1&token=a%2Bb%3D')).toBe('a+b=');
  });

  it('has no token for empty or other fragments', () => {
    expect(parseTokenFromHash('')).toBeNull();
    expect(parseTokenFromHash('#')).toBeNull();
    expect(parseTokenFromHash('#token=')).toBeNull();
    expect(parseTokenFromHash('#section')).toBeNull();
  });

  it('removes only the token from the fragment', () => {
    expect(hashWithoutToken('#token=abc')).toBe('');
    expect(hashWithoutToken('#job=j1&token=abc')).toBe('#job=j1');
  });
});
