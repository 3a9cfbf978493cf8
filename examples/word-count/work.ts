// Word counts over a shared text: every input reads the same shared file (sent to each device once, kept there) and
// counts the words of its own chunk. Input k is the k-th chunk of CHUNK bytes; a word belongs to the chunk it starts in.
// Run: node examples/word-count/make-corpus.mjs && npx edgeswarm run examples/word-count/work.ts --range 0:64 --shared corpus=examples/word-count/corpus.txt --reduce sum
/// <reference types="@edgeswarm/client/work" />

export const CHUNK = 64 * 1024;

const isSpace = (byte: number | undefined) => byte === undefined || byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/** Words that start in bytes [k * CHUNK, (k + 1) * CHUNK) of the text: a word starts where a non-space follows a space. */
export default function wordsInChunk(k: number, ctx: EdgeswarmContext): number {
  const text = ctx.shared['corpus'];
  if (!(text instanceof Uint8Array)) throw new TypeError('this job needs the shared file "corpus" (--shared corpus=FILE)');
  const start = k * CHUNK;
  const end = Math.min(text.length, start + CHUNK);
  let words = 0;
  for (let i = start; i < end; i++) if (!isSpace(text[i]) && isSpace(i === 0 ? undefined : text[i - 1])) words++;
  return words;
}
