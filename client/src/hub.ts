/** `connect()` and `hub.run()`: build (or check) the work, upload the blobs the hub lacks, submit the job, hand back its JobHandle. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { limits, type Job, type JsonValue } from '@edgeswarm/shared';
import { buildWorkModule, type BuiltModule } from './build.ts';
import { BuildError, CancelledError, ValidationError } from './errors.ts';
import { HubHttp } from './hub-http.ts';
import { inlineFunctionSource } from './inline.ts';
import { JobHandle } from './job-handle.ts';
import { SourceMaps } from './source-maps.ts';

export interface ConnectOptions {
  /** The hub, e.g. `http://localhost:8080`. @defaultValue `process.env.EDGESWARM_URL` */
  url?: string;
  /** The admin token or a submitter token. @defaultValue `process.env.EDGESWARM_TOKEN` */
  token?: string;
  /** For tests and unusual environments. @defaultValue the global `fetch` */
  fetch?: typeof fetch;
}

/** Inputs as a range of integers (`end` exclusive): stored by the hub as its bounds, up to 10,000,000 inputs. */
export interface RangeInputs {
  range: { start: number; end: number; step: number };
}

/** `range(0, 1000)`: the inputs 0, 1, ..., 999 (`step` apart), without sending them. */
export function range(start: number, end: number, step = 1): RangeInputs {
  return { range: { start, end, step } };
}

export type Inputs = readonly JsonValue[] | Iterable<JsonValue> | AsyncIterable<JsonValue> | RangeInputs;

/** A shared file: a path (or file: URL) to read (`.json` files are sent as JSON), bytes, or any JSON value. */
export type SharedValue = string | URL | Uint8Array | ArrayBuffer | JsonValue;

export interface RunOptions {
  name?: string;
  reduce?: 'collect' | 'sum' | 'min' | 'max' | 'mean' | 'count';
  timeoutMs?: number;
  maxAttempts?: number;
  priority?: number;
  meta?: Record<string, JsonValue>;
  verify?: 'none' | 'replicate' | 'adaptive';
  replication?: number;
  quorum?: number;
  tolerance?: number;
  /** Read-only data every run sees as `ctx.shared[NAME]`, sent to each device once. */
  shared?: Record<string, SharedValue>;
  /** Aborting it cancels the job. */
  signal?: AbortSignal;
}

/** What `work` may be: a work module's path or file: URL, or an inline function that uses nothing from outside it. */
export type Work = string | URL | ((input: never, ctx: never) => unknown);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function isRange(inputs: Inputs): inputs is RangeInputs {
  return typeof inputs === 'object' && inputs !== null && !Array.isArray(inputs) && 'range' in inputs;
}

async function collectInputs(inputs: Inputs): Promise<JsonValue[] | RangeInputs> {
  if (isRange(inputs)) return inputs;
  if (Array.isArray(inputs)) return inputs as JsonValue[];
  const values: JsonValue[] = [];
  const push = (value: JsonValue) => {
    if (values.length >= limits.MAX_INPUTS_ARRAY) {
      throw new ValidationError('invalid_job', `inputs: more than ${limits.MAX_INPUTS_ARRAY} inputs; use range() for more, or split the job`, 'inputs');
    }
    values.push(value);
  };
  if (Symbol.asyncIterator in (inputs as object)) for await (const value of inputs as AsyncIterable<JsonValue>) push(value);
  else if (Symbol.iterator in (inputs as object)) for (const value of inputs as Iterable<JsonValue>) push(value);
  else throw new ValidationError('invalid_job', 'inputs must be an array, an (async) iterable or range(start, end, step)', 'inputs');
  return values;
}

interface SharedBlob {
  name: string;
  as: 'bytes' | 'json';
  bytes: Uint8Array;
}

/** Reads each shared value into the bytes to upload and how job code sees them. */
export async function sharedBlobs(shared: Record<string, SharedValue>): Promise<SharedBlob[]> {
  const blobs: SharedBlob[] = [];
  for (const [name, value] of Object.entries(shared)) {
    if (typeof value === 'string' || value instanceof URL) {
      const path = value instanceof URL ? fileURLToPath(value) : value;
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (err) {
        throw new ValidationError('invalid_job', `shared.${name}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, `shared.${name}`);
      }
      const json = extname(path).toLowerCase() === '.json';
      if (json) {
        try {
          JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
        } catch (err) {
          throw new ValidationError('invalid_job', `shared.${name}: ${path} is not valid JSON: ${(err as Error).message}`, `shared.${name}`);
        }
      }
      blobs.push({ name, as: json ? 'json' : 'bytes', bytes });
    } else if (value instanceof Uint8Array) {
      blobs.push({ name, as: 'bytes', bytes: value });
    } else if (value instanceof ArrayBuffer) {
      blobs.push({ name, as: 'bytes', bytes: new Uint8Array(value) });
    } else {
      blobs.push({ name, as: 'json', bytes: new TextEncoder().encode(JSON.stringify(value)) });
    }
  }
  for (const blob of blobs) {
    if (blob.bytes.length > limits.MAX_BLOB_BYTES) {
      throw new ValidationError('payload_too_large', `shared.${blob.name}: ${blob.bytes.length} bytes; a shared file may be at most ${limits.MAX_BLOB_BYTES} (64 MiB)`, `shared.${blob.name}`);
    }
  }
  return blobs;
}

/** A blob a run needed: the bundle or a shared file, and whether it was sent (false: the hub had it). */
export interface UploadReport {
  what: string;
  hex: string;
  size: number;
  uploaded: boolean;
}

export class Hub {
  readonly http: HubHttp;
  /** Source maps of the bundles built here: device errors are reported at the module's lines. */
  readonly maps = new SourceMaps();

  constructor(options: ConnectOptions = {}) {
    const url = options.url ?? process.env['EDGESWARM_URL'];
    const token = options.token ?? process.env['EDGESWARM_TOKEN'];
    if (!url) throw new ValidationError('invalid_options', 'connect: url is required (or set EDGESWARM_URL), e.g. http://localhost:8080', 'url');
    if (!token) throw new ValidationError('invalid_options', 'connect: token is required (or set EDGESWARM_TOKEN): the admin token or a submitter token', 'token');
    this.http = new HubHttp(url, token, options.fetch);
  }

  get url(): string {
    return this.http.url;
  }

  /** Builds a work module (without submitting it) and keeps its source map. */
  async build(path: string): Promise<BuiltModule> {
    const built = await buildWorkModule(path);
    this.maps.keep(built.hex, built.map, dirname(built.entry));
    return built;
  }

  /** Uploads `bytes` unless the hub already holds them for this token; returns their SHA-256. */
  async upload(bytes: Uint8Array): Promise<{ hex: string; uploaded: boolean }> {
    const hex = sha256(bytes);
    if (await this.http.hasBlob(hex)) return { hex, uploaded: false };
    await this.http.putBlob(hex, bytes);
    return { hex, uploaded: true };
  }

  /**
   * Runs `work` over `inputs`: a work module (built, and uploaded unless the hub has it), or an inline
   * function (refused before submitting if it uses variables from outside it). Resolves once the hub
   * accepted the job; `await job.done` for its end.
   */
  async run(work: Work, inputs: Inputs, options: RunOptions = {}): Promise<JobHandle> {
    const { shared, signal, ...fields } = options;
    if (signal?.aborted) throw new CancelledError('the signal was aborted before the job was submitted', null);
    const spec: Record<string, unknown> = { ...fields };
    const uploads: UploadReport[] = [];
    const send = async (what: string, bytes: Uint8Array) => {
      const { hex, uploaded } = await this.upload(bytes);
      uploads.push({ what, hex, size: bytes.length, uploaded });
      return `sha256:${hex}`;
    };
    if (typeof work === 'function') {
      spec['code'] = inlineFunctionSource(work);
    } else if (typeof work === 'string' || work instanceof URL) {
      const built = await this.build(work instanceof URL ? fileURLToPath(work) : work);
      spec['bundle'] = await send('bundle', built.bytes);
    } else {
      throw new BuildError('work must be a path to a work module or an inline function', null, null);
    }
    const collected = await collectInputs(inputs);
    spec['inputs'] = collected;
    if (shared && Object.keys(shared).length > 0) {
      const refs: Record<string, { blob: string; as: 'bytes' | 'json' }> = {};
      for (const blob of await sharedBlobs(shared)) refs[blob.name] = { blob: await send(`shared.${blob.name}`, blob.bytes), as: blob.as };
      spec['shared'] = refs;
    }
    const job = await this.http.json<Job>('POST', '/api/jobs', spec);
    const handle = new JobHandle(job.id, this.http, this.maps, job, uploads);
    if (signal) {
      const abort = () => void handle.cancel().catch(() => undefined);
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
      handle.done.finally(() => signal.removeEventListener('abort', abort)).catch(() => undefined);
    }
    return handle;
  }

  /** A handle on a job submitted earlier (by id). */
  job(id: string): JobHandle {
    return new JobHandle(id, this.http, this.maps);
  }

  /** Jobs this token may see, newest first. */
  async jobs(offset = 0, limit = 100): Promise<{ total: number; jobs: Job[] }> {
    return this.http.json('GET', `/api/jobs?offset=${offset}&limit=${limit}`);
  }
}

/**
 * Connects to a hub (nothing is sent until the first call).
 * @example
 * const hub = connect({ url: 'http://localhost:8080', token });
 * const job = await hub.run('./work.ts', range(0, 1000), { reduce: 'sum' });
 * console.log((await job.done).result);
 */
export function connect(options: ConnectOptions = {}): Hub {
  return new Hub(options);
}
