import { describe, expect, it } from 'vitest';
import { NdjsonToJsonArray, ndjsonBodyToJsonArrayBlob } from './ndjson-array.ts';

function transform(chunks: readonly string[]): { text: string; count: number } {
  const t = new NdjsonToJsonArray();
  let text = '';
  for (const chunk of chunks) text += t.push(chunk);
  text += t.end();
  return { text, count: t.count };
}

/** Every way of cutting `text` in two, and in single characters. */
function cuts(text: string): string[][] {
  const out: string[][] = [[text], [...text]];
  for (let i = 0; i <= text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

const bodyOf = (chunks: ReadonlyArray<Uint8Array>) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });

describe('NdjsonToJsonArray', () => {
  const values = [1, 'two\nlines', { a: [1, 2, { b: null }] }, null, true, -3.5e-7, 'comma, "quoted" \\ backslash', []];
  const ndjson = values.map((v) => `${JSON.stringify(v)}\n`).join('');

  it('writes the values as one JSON array, wherever the chunks are cut', () => {
    for (const chunks of cuts(ndjson)) {
      const { text, count } = transform(chunks);
      expect(JSON.parse(text)).toEqual(values);
      expect(count).toBe(values.length);
    }
  });

  it('takes a last line without a trailing newline', () => {
    const trimmed = ndjson.slice(0, -1);
    for (const chunks of cuts(trimmed)) expect(JSON.parse(transform(chunks).text)).toEqual(values);
  });

  it('copies each value as sent and joins them with commas', () => {
    expect(transform(['1\n2\n', '3\n']).text).toBe('[1,2,3]');
    expect(transform(['{"a": 1}\n', '"x"\n']).text).toBe('[{"a": 1},"x"]');
  });

  it('gives an empty array for an empty stream, empty chunks and blank lines', () => {
    expect(transform([]).text).toBe('[]');
    expect(transform(['']).text).toBe('[]');
    expect(transform(['', '\n', '\r\n', '  \n']).text).toBe('[]');
    expect(transform([]).count).toBe(0);
  });

  it('skips blank lines and CRLF line ends between values', () => {
    expect(transform(['1\r\n\r', '\n2\n\n', '3']).text).toBe('[1,2,3]');
  });

  it('returns nothing for a chunk that completes no line', () => {
    const t = new NdjsonToJsonArray();
    expect(t.push('12')).toBe('');
    expect(t.push('34')).toBe('');
    expect(t.push('\n5')).toBe('[1234');
    expect(t.end()).toBe(',5]');
  });

  it('refuses use after the end', () => {
    const t = new NdjsonToJsonArray();
    t.end();
    expect(() => t.push('1\n')).toThrow();
    expect(() => t.end()).toThrow();
  });
});

describe('ndjsonBodyToJsonArrayBlob', () => {
  it('decodes UTF-8 split across chunks and builds the array', async () => {
    const bytes = new TextEncoder().encode('"é€😀"\n{"k":"ü"}\n');
    const chunks = Array.from(bytes, (b) => Uint8Array.of(b)); // every multi-byte character is cut
    const progress: number[] = [];
    const { blob, count } = await ndjsonBodyToJsonArrayBlob(bodyOf(chunks), (n) => progress.push(n));
    expect(count).toBe(2);
    expect(blob.type).toBe('application/json');
    expect(JSON.parse(await blob.text())).toEqual(['é€😀', { k: 'ü' }]);
    expect(progress.at(-1)).toBe(2);
  });

  it('gives [] for an empty body', async () => {
    const { blob, count } = await ndjsonBodyToJsonArrayBlob(bodyOf([]));
    expect(count).toBe(0);
    expect(await blob.text()).toBe('[]');
  });

  it('handles many values spread over parts of the Blob', async () => {
    const n = 300_000;
    const line = (i: number) => `${JSON.stringify({ i, s: 'x'.repeat(20) })}\n`;
    const chunks: Uint8Array[] = [];
    const encoder = new TextEncoder();
    let text = '';
    for (let i = 0; i < n; i++) {
      text += line(i);
      if (text.length > 65_000) {
        chunks.push(encoder.encode(text.slice(0, 65_001 - 7))); // cut inside a line
        text = text.slice(65_001 - 7);
      }
    }
    chunks.push(encoder.encode(text));
    const { blob, count } = await ndjsonBodyToJsonArrayBlob(bodyOf(chunks));
    expect(count).toBe(n);
    const parsed = JSON.parse(await blob.text()) as Array<{ i: number }>;
    expect(parsed).toHaveLength(n);
    expect(parsed.every((v, i) => v.i === i)).toBe(true);
  });

  it('rejects when the body breaks off', async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        if (pulls === 1) controller.enqueue(new TextEncoder().encode('1\n2\n'));
        else controller.error(new Error('connection reset'));
      },
    });
    await expect(ndjsonBodyToJsonArrayBlob(body)).rejects.toThrow('connection reset');
  });

  it('stops reading and rejects when aborted', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('1\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const controller = new AbortController();
    const done = ndjsonBodyToJsonArrayBlob(body, (n) => {
      if (n >= 5) controller.abort(new Error('closed'));
    }, controller.signal);
    await expect(done).rejects.toThrow('closed');
    expect(cancelled).toBe(true);
  });
});
