import { describe, expect, it } from 'vitest';
import { utf8Length } from './utf8.ts';

// shared compiles against ES2022 alone (no DOM or Node types), so the platform encoder is reached through a cast.
// TextEncoder encodes a lone surrogate as U+FFFD (3 bytes), exactly as Node's Buffer.byteLength counts it.
const { TextEncoder } = globalThis as unknown as { TextEncoder: new () => { encode(s: string): Uint8Array } };
const encoder = new TextEncoder();
const platformLength = (s: string): number => encoder.encode(s).length;

describe('utf8Length', () => {
  it.each([
    ['the empty string', '', 0],
    ['ASCII', 'hello, world', 12],
    ['a NUL and DEL (1 byte each)', '\u0000\u007f', 2],
    ['two-byte characters (U+0080, é, U+07FF)', '\u0080é\u07ff', 6],
    ['three-byte characters (U+0800, €, 日本, U+FFFF)', '\u0800€日本\uffff', 15],
    ['characters just below the surrogates (U+D7FF) and just above (U+E000)', '\ud7ff\ue000', 6],
    ['an astral emoji (a surrogate pair)', '😀', 4],
    ['the first and last astral code points', '\u{10000}\u{10ffff}', 8],
    ['mixed widths', 'aé€😀', 1 + 2 + 3 + 4],
  ])('counts %s', (_label, s, bytes) => {
    expect(utf8Length(s)).toBe(bytes);
    expect(utf8Length(s)).toBe(platformLength(s));
  });

  it.each([
    ['a lone high surrogate', '\ud83d', 3],
    ['a lone low surrogate', '\ude00', 3],
    ['a high surrogate at the end after ASCII', 'ab\ud83d', 5],
    ['a high surrogate followed by ASCII', '\ud83dx', 4],
    ['two high surrogates then a low one', '\ud83d\ud83d\ude00', 3 + 4],
    ['a low surrogate before a high one (reversed pair)', '\ude00\ud83d', 6],
    ['a low surrogate after a complete pair', '😀\ude00', 4 + 3],
  ])('counts %s as 3 bytes per lone surrogate, like the replacement character', (_label, s, bytes) => {
    expect(utf8Length(s)).toBe(bytes);
    expect(utf8Length(s)).toBe(platformLength(s));
  });

  it('agrees with the platform encoder on every BMP code unit', () => {
    const mismatches: number[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const s = String.fromCharCode(c);
      if (utf8Length(s) !== platformLength(s)) mismatches.push(c);
    }
    expect(mismatches).toEqual([]);
  });

  it('agrees with the platform encoder on a long mixed string', () => {
    const s = 'x€😀é\ud800'.repeat(10_000);
    expect(utf8Length(s)).toBe(13 * 10_000);
    expect(utf8Length(s)).toBe(platformLength(s));
  });
});
