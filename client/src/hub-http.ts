/** The hub's HTTP API as the SDK uses it: bearer token, JSON in and out, the contract's errors turned into typed ones, blobs and NDJSON streams. */
import { AuthError, EdgeswarmError, LimitError, ValidationError } from './errors.ts';

type Fetch = typeof fetch;

/** The field a hub validation message names, e.g. `inputs.range.end` in "inputs.range.end must be greater than start". */
export function fieldOf(message: string): string | null {
  const unknown = /^unknown field "([^"]+)"/.exec(message);
  if (unknown) return unknown[1] ?? null;
  const named = /^([A-Za-z_$][\w$.[\]-]*?)(?::| must | is | has | names | holds )/.exec(message);
  return named?.[1] ?? null;
}

/** A contract error answer (`{"error": {"code", "message"}}`) as a typed error. */
export function errorFromResponse(status: number, body: unknown, retryAfter: string | null): EdgeswarmError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === 'string' ? error.code : `http_${status}`;
  const message = typeof error?.message === 'string' ? error.message : `the hub answered HTTP ${status}`;
  if (status === 401) return new AuthError(code, `the hub refused the token: ${message}`);
  if (status === 413 || status === 429) {
    const seconds = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
    return new LimitError(code, message, seconds);
  }
  if (status === 400) return new ValidationError(code, message, fieldOf(message));
  return new EdgeswarmError(code, message);
}

export class HubHttp {
  readonly url: string;

  constructor(
    url: string,
    private readonly token: string,
    private readonly fetchImpl: Fetch = fetch,
  ) {
    this.url = url.replace(/\/+$/, '');
  }

  /** One API call; the answer's JSON, or a typed error. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, {
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const parsed: unknown = text === '' ? null : parseJson(text, path);
    if (!res.ok) throw errorFromResponse(res.status, parsed, res.headers.get('retry-after'));
    return parsed as T;
  }

  /** Whether the hub holds blob `hex` for this token. */
  async hasBlob(hex: string): Promise<boolean> {
    const res = await this.request('HEAD', `/api/blobs/${hex}`, {});
    if (res.status === 404) return false;
    if (!res.ok) throw errorFromResponse(res.status, null, res.headers.get('retry-after'));
    return true;
  }

  /** Uploads blob `hex` (the SHA-256 of `bytes`). */
  async putBlob(hex: string, bytes: Uint8Array): Promise<void> {
    const res = await this.request('PUT', `/api/blobs/${hex}`, { headers: { 'Content-Type': 'application/octet-stream' }, body: bytes });
    const text = await res.text();
    if (!res.ok) throw errorFromResponse(res.status, text === '' ? null : parseJson(text, 'blob upload'), res.headers.get('retry-after'));
  }

  /** The lines of an NDJSON answer, parsed one at a time as they arrive (memory stays at about one chunk). */
  async *ndjson(path: string, signal?: AbortSignal): AsyncGenerator<unknown> {
    const res = await this.request('GET', path, { headers: { Accept: 'application/x-ndjson' }, ...(signal ? { signal } : {}) });
    if (!res.ok) {
      const text = await res.text();
      throw errorFromResponse(res.status, text === '' ? null : parseJson(text, path), res.headers.get('retry-after'));
    }
    if (!res.body) return;
    const decoder = new TextDecoder();
    let pending = '';
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(piece, { stream: true });
      let newline = pending.indexOf('\n');
      let start = 0;
      while (newline >= 0) {
        const line = pending.slice(start, newline);
        if (line !== '') yield parseJson(line, path);
        start = newline + 1;
        newline = pending.indexOf('\n', start);
      }
      pending = pending.slice(start);
    }
    pending += decoder.decode();
    if (pending.trim() !== '') yield parseJson(pending, path);
  }

  private async request(method: string, path: string, init: { headers?: Record<string, string>; body?: string | Uint8Array; signal?: AbortSignal }): Promise<Response> {
    try {
      return await this.fetchImpl(this.url + path, {
        method,
        ...init,
        headers: { Authorization: `Bearer ${this.token}`, ...init.headers },
      } as RequestInit);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new AuthError('unreachable', `cannot reach the hub at ${this.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
    }
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new EdgeswarmError('invalid_answer', `the hub's answer to ${what} is not JSON: ${text.slice(0, 200)}`);
  }
}
