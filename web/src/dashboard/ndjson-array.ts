// NDJSON (one JSON value per line) to the text of one JSON array, chunk by chunk, without parsing the values.

/**
 * Turns NDJSON text, fed in chunks cut anywhere, into the text of the JSON array `[v0,v1,...]`:
 * each call returns the array text that the chunk completes. Lines are copied, not parsed
 * (`JSON.stringify` never writes a raw newline, so a newline always ends a value); blank lines and
 * a `\r` before the newline are skipped.
 */
export class NdjsonToJsonArray {
  private pending = '';
  private started = false;
  private ended = false;
  /** Values written so far. */
  count = 0;

  push(chunk: string): string {
    if (this.ended) throw new Error('NdjsonToJsonArray: push after end');
    const text = this.pending + chunk;
    const lastNewline = text.lastIndexOf('\n');
    if (lastNewline < 0) {
      this.pending = text;
      return '';
    }
    this.pending = text.slice(lastNewline + 1);
    return this.write(text.slice(0, lastNewline).split('\n'));
  }

  /** The rest of the array: the last line if it had no newline, and the closing bracket. */
  end(): string {
    if (this.ended) throw new Error('NdjsonToJsonArray: end called twice');
    const out = this.write([this.pending]);
    this.pending = '';
    this.ended = true;
    return `${this.started ? out : '['}]`;
  }

  private write(lines: string[]): string {
    const values: string[] = [];
    for (const line of lines) {
      const value = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (value.trim() !== '') values.push(value);
    }
    if (values.length === 0) return '';
    const prefix = this.started ? ',' : '[';
    this.started = true;
    this.count += values.length;
    return prefix + values.join(',');
  }
}

/** Strings are gathered into Blobs of about this many characters, so the browser can keep big downloads out of the JS heap. */
const BLOB_PART_CHARS = 4 * 1024 * 1024;

/**
 * Reads an NDJSON body to the end and returns a Blob holding the JSON array of its values, built piece by piece.
 * A body that breaks off (the hub cuts it when it cannot finish) rejects; `signal` cancels the read.
 */
export async function ndjsonBodyToJsonArrayBlob(
  body: ReadableStream<Uint8Array>,
  onProgress?: (values: number) => void,
  signal?: AbortSignal,
): Promise<{ blob: Blob; count: number }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const transform = new NdjsonToJsonArray();
  const blobs: Blob[] = [];
  let strings: string[] = [];
  let chars = 0;
  const add = (text: string) => {
    if (text === '') return;
    strings.push(text);
    chars += text.length;
    if (chars >= BLOB_PART_CHARS) {
      blobs.push(new Blob(strings));
      strings = [];
      chars = 0;
    }
  };
  const abort = () => void reader.cancel(signal?.reason).catch(() => undefined);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    signal?.throwIfAborted();
    for (;;) {
      const { done, value } = await reader.read();
      signal?.throwIfAborted();
      if (done) break;
      add(transform.push(decoder.decode(value, { stream: true })));
      onProgress?.(transform.count);
    }
    add(transform.push(decoder.decode()));
    add(transform.end());
    onProgress?.(transform.count);
  } catch (err) {
    abort();
    throw err;
  } finally {
    signal?.removeEventListener('abort', abort);
    reader.releaseLock();
  }
  return { blob: new Blob([...blobs, ...strings], { type: 'application/json' }), count: transform.count };
}
