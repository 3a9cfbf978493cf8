/**
 * Hostile clients, fuzzed with fast-check: random and malformed Engine.IO / Socket.IO packets and
 * handshakes over raw WebSockets and over HTTP long-polling, devices that take leases and submit
 * results for inputs they do not hold, random HTTP requests at every route, and raw malformed HTTP
 * bytes. The hub must never crash, hang, log a failure or answer 500; every API error keeps the
 * contract's shape; once a hostile client is gone its address may connect again and the fleet is
 * back to the honest devices; and a real job, computed by two honest devices all along, completes
 * with the exact sum.
 *
 * The seed is fixed so every run fuzzes the same cases; `FUZZ_SEED=n` picks another seed and
 * `FUZZ_RUNS=x` multiplies the number of runs (e.g. `FUZZ_RUNS=10` for a long local session).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import WebSocket from 'ws';
import {
  CONNECT_REFUSALS,
  JOB_STATUSES,
  PROTOCOL_VERSION,
  REDUCERS,
  rangeLength,
  workRequestSchema,
  type Job,
  type LeaseGrant,
} from '@edgeswarm/shared';
import { HTTP_ERROR_STATUS } from '../src/errors.ts';
import { checkJobCode } from '../src/jobs/code-check.ts';
import { TestDevice } from './support/test-device.ts';
import { waitFor } from './support/test-hub.ts';
import { startLoggedTestHub, type LoggedTestHub } from './support/logged-test-hub.ts';

// ---- knobs ----------------------------------------------------------------------------------

const DEFAULT_SEED = 20_260_517;
const SEED = seedFromEnv(process.env['FUZZ_SEED']) ?? DEFAULT_SEED;
const SCALE = Number(process.env['FUZZ_RUNS'] ?? '1') > 0 ? Number(process.env['FUZZ_RUNS'] ?? '1') : 1;
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

const SOCKET_RUNS = runs(220);
const HTTP_RUNS = runs(400);
const RAW_HTTP_RUNS = runs(60);
const POLLING_RUNS = runs(80);
/** One fuzz case may take this long before fast-check calls it a hang. */
const RUN_TIMEOUT_MS = 15_000;
/** Generous, for slow machines and FUZZ_RUNS; the default runs take about 15 s in all. */
const PHASE_TIMEOUT_MS = 240_000;

/** The real job: 3000 inputs, each up to a millisecond of busy work and a short wait (so it lasts through the fuzzing), summed. */
const REAL_JOB = {
  name: 'real work under attack',
  code: 'async (n) => { const e = Date.now() + 1; while (Date.now() < e) {} await new Promise((r) => setTimeout(r, 6)); return n * 2; }',
  inputs: { range: { start: 0, end: 3000 } },
  reduce: 'sum',
};
const REAL_TOTAL = 3000;
const REAL_SUM = 2 * ((REAL_TOTAL - 1) * REAL_TOTAL) / 2;

/**
 * A hostile device that takes a lease and vanishes costs each of its inputs one "loss"; past 10 the
 * job fails with `device_lost`, as the contract says. Fuzzed sockets hand back (with correct results)
 * what they leased when they can; at most this many of their leases may ever be abandoned, so no
 * input of the real job can be lost more than 10 times whatever the fuzzer does.
 */
const MAX_ABANDONED_LEASES = 10;

/**
 * The hub's per-address connection cap (--max-connections-per-address), lowered from 2000 so that
 * "once a hostile socket is gone, its address may connect again" is checked with few connections.
 * Every client of this test is on 127.0.0.1: the honest devices, one hostile socket and one probe.
 */
const CONNECTIONS_PER_ADDRESS = 100;

/** Statuses the contract's HTTP API may answer with. */
const CONTRACT_STATUSES = new Set([200, 201, 204, 400, 401, 404, 409, 413, 429, 503]);
/** Codes a device ack may carry; `internal` (a handler threw) is a hub bug. */
const ACK_ERROR_CODES = new Set(['invalid_payload', 'rate_limited', 'unavailable']);
const SNAKE_CASE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/** Job code the fuzzer may get accepted: all of it finishes at once. Any other valid code is filtered out. */
const HARMLESS_CODE = [
  '(n) => n',
  'n => null',
  'async function (x) { return x; }',
  '(x) => { throw new Error("fuzz"); }',
  'function named(n) { return [n, n]; }',
  '((n) => n)',
  '(n) => n // trailing comment',
  '/* leading */ (n) => n',
];

// ---- shared state ---------------------------------------------------------------------------

let hub: LoggedTestHub;
const devices: TestDevice[] = [];
let realJobId = '';
const createdJobIds: string[] = [];
let abandonableLeases = MAX_ABANDONED_LEASES;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};
const progressLog: string[] = [];
/** What the fuzzing reached, printed at the end, so a change that makes it hit nothing shows. */
const seen = new Map<string, number>();
const count = (what: string, n = 1): void => {
  seen.set(what, (seen.get(what) ?? 0) + n);
};

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  hub = await startLoggedTestHub({ maxConnectionsPerAddress: CONNECTIONS_PER_ADDRESS });
  for (let i = 0; i < 2; i++) devices.push(new TestDevice(hub.url, { threads: 2 }));
  await Promise.all(devices.map((d) => d.connected()));
  const created = await hub.api<Job>('POST', '/api/jobs', REAL_JOB);
  expect(created.status).toBe(201);
  realJobId = created.body.id;
});

afterAll(async () => {
  for (const d of devices.splice(0)) d.close();
  await hub?.close();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  if (progressLog.length > 0) console.info(`[hostile-clients fuzz, seed ${SEED}] ${progressLog.join('; ')}`);
  const reached = [...seen].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`);
  if (reached.length > 0) console.info(`[hostile-clients fuzz, seed ${SEED}] reached: ${reached.join(', ')}`);
});

// ---- helpers: rendering, fuzz driver, health --------------------------------------------------

/** Text built from pieces, so that megabyte-long values print as `{repeat, times}` in a counterexample. */
type Piece = string | { repeat: string; times: number };
const render = (pieces: readonly Piece[]): string => pieces.map((p) => (typeof p === 'string' ? p : p.repeat.repeat(p.times))).join('');

function seedFromEnv(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`FUZZ_SEED must be an integer, got "${raw}"`);
  return n | 0;
}

/** Runs one fuzz phase; a failure names the seed, the phase, the failing case's number and violations, and the case itself. */
async function fuzz<T>(phase: string, arb: fc.Arbitrary<T>, numRuns: number, check: (value: T) => Promise<void>): Promise<void> {
  let first: string | null = null;
  let ran = 0;
  const started = Date.now();
  try {
    await fc.assert(
      fc.asyncProperty(arb, async (value) => {
        ran++;
        try {
          await check(value);
        } catch (err) {
          first ??= `case #${ran}: ${(err as Error).message}`;
          throw err;
        }
      }),
      // No shrinking: the hub's state carries over from case to case (it is one long-lived hub under
      // attack), so a shrunk case replayed later says little. The seed replays the whole sequence.
      { seed: SEED, numRuns, timeout: RUN_TIMEOUT_MS, endOnFailure: true },
    );
  } catch (err) {
    throw new Error(
      `hostile-clients fuzz, phase "${phase}", FUZZ_SEED=${SEED}: the hub misbehaved.\n` +
        `Replay: FUZZ_SEED=${SEED} npx vitest run server/test/hostile-clients.fuzz.test.ts\n` +
        `First failure seen: ${first ?? '(none recorded)'}\n\n${(err as Error).message}`,
      { cause: err },
    );
  }
  progressLog.push(`${phase}: ${numRuns} runs in ${Date.now() - started} ms`);
}

async function realProgress(): Promise<string> {
  const res = await hub.api<Job>('GET', `/api/jobs/${realJobId}`);
  return `${res.body.status} ${res.body.progress.completed}/${res.body.progress.total}`;
}

/** The hub answers /healthz at once, logged nothing and threw nothing. */
async function expectHealthy(violations: string[], logsBefore: number): Promise<void> {
  try {
    const res = await fetch(`${hub.url}/healthz`, { signal: AbortSignal.timeout(5000) });
    const body = await res.text();
    if (res.status !== 200 || body !== '{"ok":true}') violations.push(`/healthz answered ${res.status} ${body.slice(0, 200)}`);
  } catch (err) {
    violations.push(`/healthz did not answer within 5 s: ${(err as Error).message}`);
  }
  for (const entry of hub.logs.slice(logsBefore)) {
    violations.push(`the hub logged "${entry.message}": ${entry.err instanceof Error ? (entry.err.stack ?? entry.err.message) : String(entry.err)}`);
  }
  for (const err of uncaught.splice(0)) {
    violations.push(`uncaught in the hub's process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}

function fail(violations: string[]): void {
  if (violations.length > 0) throw new Error(violations.map((v) => `- ${v.slice(0, 1500)}`).join('\n'));
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isTime = (v: unknown): boolean => typeof v === 'string' && ISO_TIME.test(v) && !Number.isNaN(Date.parse(v));

/** Problems with a Job as the contract describes it, or an empty list. */
function jobProblems(job: unknown): string[] {
  if (!isRecord(job)) return [`a Job must be an object, got ${JSON.stringify(job)?.slice(0, 200)}`];
  const p: string[] = [];
  if (typeof job['id'] !== 'string' || job['id'] === '') p.push('id');
  if (typeof job['name'] !== 'string') p.push('name');
  if (!(JOB_STATUSES as readonly unknown[]).includes(job['status'])) p.push('status');
  const progress = job['progress'];
  if (!isRecord(progress) || !isNat(progress['total']) || !isNat(progress['completed']) || !isNat(progress['failed'])) p.push('progress');
  if (!(REDUCERS as readonly unknown[]).includes(job['reduce'])) p.push('reduce');
  if (!isRecord(job['meta'])) p.push('meta');
  if (!isTime(job['createdAt'])) p.push('createdAt');
  if (job['startedAt'] !== null && !isTime(job['startedAt'])) p.push('startedAt');
  if (job['finishedAt'] !== null && !isTime(job['finishedAt'])) p.push('finishedAt');
  if (job['status'] === 'failed') {
    const e = job['error'];
    if (!isRecord(e) || typeof e['code'] !== 'string' || typeof e['message'] !== 'string' || !isNat(e['input'])) p.push('error');
  }
  return p.length === 0 ? [] : [`Job fields off contract (${p.join(', ')}): ${JSON.stringify(job).slice(0, 400)}`];
}

// ---- raw WebSocket client ---------------------------------------------------------------------

const WS_PATH = '/socket.io/?EIO=4&transport=websocket';

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A WebSocket that speaks Engine.IO only as far as the test makes it: every frame is sent as given. */
class RawSocket {
  readonly frames: Array<string | Buffer> = [];
  closeCode: number | null = null;
  private lastFrameAt = Date.now();
  private waiters: Array<() => void> = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const buf = toBuffer(data);
      this.frames.push(isBinary ? buf : buf.toString('utf8'));
      this.lastFrameAt = Date.now();
      this.wake();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
    });
    ws.on('error', () => {});
  }

  static async open(baseUrl: string): Promise<RawSocket> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + WS_PATH, { perMessageDeflate: false, handshakeTimeout: 5000 });
    const socket = new RawSocket(ws);
    try {
      await new Promise<void>((ok, ko) => {
        ws.once('open', () => ok());
        ws.once('error', ko);
        ws.once('unexpected-response', (_req, res) => ko(new Error(`WebSocket upgrade answered ${res.statusCode}`)));
      });
      await socket.until((f) => f.startsWith('0{'), 5000, 'the Engine.IO open packet');
    } catch (err) {
      ws.terminate();
      throw err;
    }
    return socket;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | Buffer): void {
    if (this.isOpen) this.ws.send(data, { binary: typeof data !== 'string' }, () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private changed(ms: number): Promise<void> {
    return new Promise((ok) => {
      const timer = setTimeout(ok, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        ok();
      });
    });
  }

  /** The first text frame (from `from` on) that matches, or undefined after `ms` or once the socket closed. */
  async find(match: (frame: string) => boolean, ms: number, from = 0): Promise<string | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      for (let i = from; i < this.frames.length; i++) {
        const f = this.frames[i];
        if (typeof f === 'string' && match(f)) return f;
      }
      if (this.closeCode !== null || Date.now() >= deadline) return undefined;
      await this.changed(deadline - Date.now());
    }
  }

  async until(match: (frame: string) => boolean, ms: number, what: string): Promise<string> {
    const found = await this.find(match, ms);
    if (found === undefined) {
      throw new Error(`no ${what} within ${ms} ms (closed: ${this.closeCode}); got ${JSON.stringify(this.frames.slice(-5)).slice(0, 500)}`);
    }
    return found;
  }

  /** Waits until nothing arrived for `quietMs`, the socket closed, or `maxMs` passed. */
  async quiet(quietMs: number, maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    this.lastFrameAt = Date.now();
    while (this.closeCode === null && Date.now() < deadline) {
      const idle = Date.now() - this.lastFrameAt;
      if (idle >= quietMs) return;
      await this.changed(Math.min(quietMs - idle, deadline - Date.now()));
    }
  }

  close(): void {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

const deviceAuth = (deviceId: string, threads: number) => ({ protocol: PROTOCOL_VERSION, deviceId, kind: 'node', name: 'f', threads });

/**
 * True when the text frame, decoded as socket.io-parser does, is a `work:request` on `/device` that
 * the hub would grant. Such frames are kept out of the random ones: leases come only from `lease` steps.
 */
function wouldLease(frame: string): boolean {
  let i = 0;
  if (frame[i++] !== '4') return false;
  const type = frame[i++];
  if (type !== '2' && type !== '5') return false;
  if (type === '5') {
    const dash = frame.indexOf('-', i);
    if (dash < 0) return false;
    i = dash + 1;
  }
  if (!frame.startsWith('/device,', i)) return false;
  i += '/device,'.length;
  while (i < frame.length && /[\d\s]/.test(frame[i] ?? '')) i++; // the ack id; the parser takes whatever Number() reads as a digit
  let payload: unknown;
  try {
    payload = JSON.parse(frame.slice(i));
  } catch {
    return false;
  }
  return Array.isArray(payload) && payload[0] === 'work:request' && workRequestSchema.safeParse(payload[1]).success;
}

// ---- arbitraries: Socket.IO frames ------------------------------------------------------------

/** Integers and near-integers a schema has to refuse or clamp. */
const intish = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 12_000 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(0, 1.5, -1, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 31, 2 ** 32, 1e-7, 1024, 1025, 10_000, 10_001),
  },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean(), fc.constant([1]), fc.constant({})) },
);

const longText = (max: number): fc.Arbitrary<Piece> =>
  fc.record({ repeat: fc.constantFrom('a', 'é', '\\', '"', '\u0000', '😀', '{', 'ab'), times: fc.integer({ min: 1, max: max }) });

/** JSON-ish text: valid JSON of every shape, near-valid protocol payloads, and text that is not JSON at all. */
function payloadText(nearValid: fc.Arbitrary<unknown>): fc.Arbitrary<Piece[]> {
  return fc.oneof(
    { weight: 5, arbitrary: jsonText(nearValid) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }).map((s) => [s]) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('{', '[', '"', '{"a":', '[1,', 'nul', 'NaN', 'Infinity', '-', '1e', '"\\ud800', 'undefined', '{"a":1,}', "{'a':1}")
        .map((s) => [s]),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('[', '{"a":'), fc.integer({ min: 1, max: 120_000 }))
        .map(([open, depth]): Piece[] => [{ repeat: open, times: depth }, '1']),
    },
  );
}

/** Valid JSON text: every shape, near-valid protocol payloads, deep nesting, huge numbers, long strings. */
function jsonText(nearValid: fc.Arbitrary<unknown>): fc.Arbitrary<Piece[]> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => [JSON.stringify(v)]) },
    { weight: 2, arbitrary: fc.anything({ maxDepth: 3 }).map((v) => [anyToJson(v)]) },
    { weight: 5, arbitrary: nearValid.map((v) => [JSON.stringify(v) ?? 'null']) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('[', '{"a":', '{"slots":', '{"leaseId":"x","results":', '{"state":"idle","threads":'), fc.integer({ min: 1, max: 120_000 }))
        .map(([open, depth]): Piece[] => {
          const wrapper = open.startsWith('{') ? { head: open, tail: '}' } : { head: '', tail: '' };
          return [wrapper.head, { repeat: '[', times: depth }, '1', { repeat: ']', times: depth }, wrapper.tail];
        }),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('1e400', '-1e400', '123456789012345678901234567890', '-0', '0.0000000000000000000001', '1E+308', '9007199254740993', '{"slots":1e400}', '{"slots":5e-324}', '{"slots":1.0}')
        .map((n) => [n]),
    },
    { weight: 1, arbitrary: longText(1_000_000).map((p): Piece[] => ['"', p, '"']) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('"\\ud800"', '"\\u0000"', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"slots":2,"slots":"x"}', '{"leaseId":"a","leaseId":null}')
        .map((s) => [s]),
    },
  );
}

function anyToJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return 'null';
  }
}

const nearResult = fc.record(
  {
    index: intish,
    ok: fc.oneof(fc.boolean(), fc.constantFrom<unknown>('true', 1, null)),
    json: fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.string(), fc.constantFrom('NaN', '1e999', '', 'undefined')),
    code: fc.constantFrom('work_error', 'timeout', 'invalid_result', 'result_too_large', 'device_lost', 'internal', ''),
    message: fc.string({ maxLength: 30 }),
  },
  { requiredKeys: [] },
);

/** A result the schema takes: a value (right, wrong, or not JSON) or a failure. */
const foreignResult: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 3, arbitrary: fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.constantFrom('0', '-1', '"x"', '1e308', 'NaN', '{')).map((json) => ({ ok: true, json })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ code: fc.constantFrom('work_error', 'timeout', 'invalid_result', 'result_too_large'), message: fc.string({ maxLength: 30 }) })
      .map((r) => ({ ok: false, ...r })),
  },
  { weight: 1, arbitrary: nearResult },
);

const nearPayload: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ slots: intish }, { requiredKeys: [] }),
  fc.record(
    {
      leaseId: fc.oneof(fc.string({ maxLength: 120 }), fc.constantFrom<unknown>('', 'lease_1', '__proto__', 7, null)),
      results: fc.oneof(fc.array(nearResult, { maxLength: 6 }), fc.jsonValue({ maxDepth: 2 })),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    { state: fc.oneof(fc.constantFrom('idle', 'working', 'paused', 'gone'), fc.string({ maxLength: 8 })), threads: intish },
    { requiredKeys: [] },
  ),
  fc.dictionary(
    fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'slots', 'leaseId', 'results', '_placeholder', 'num')),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 4 },
  ),
);

const validDeviceId = fc.stringMatching(/^[A-Za-z0-9_-]{10,24}$/).map((s) => `fuzz_${s}`);

const nearAuth: fc.Arbitrary<unknown> = fc.oneof(
  fc.record(
    {
      protocol: fc.oneof(fc.constant<unknown>(PROTOCOL_VERSION), intish),
      deviceId: fc.oneof(validDeviceId, fc.string({ maxLength: 70 }), fc.constantFrom<unknown>('short', 'x'.repeat(65), 'has space here', null, 12345678)),
      kind: fc.oneof(fc.constantFrom<unknown>('node', 'browser', 'phone', ''), fc.jsonValue({ maxDepth: 1 })),
      name: fc.oneof(fc.string({ maxLength: 120 }), fc.jsonValue({ maxDepth: 1 })),
      threads: intish,
      token: fc.oneof(fc.constant<unknown>('test-admin-token-0123456789'), fc.string({ maxLength: 20 }), fc.constant('x'.repeat(600))),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

const namespacePart = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/device,', '/dashboard,', '') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('/', '/,', '/device', '/dashboard', '/nope,', '/device/,', '/DEVICE,', '/device,,', ',', '/socket.io,', '/__proto__,', '/constructor,', '/device?x=1,'),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((s) => `/${s},`) },
);

const ackIdPart = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 3, arbitrary: fc.nat({ max: 1_000_000 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('0', '99999999999999999999999', '1e3', '-1', '007', ' 5 ', '\t1') },
);

const eventNamePart = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '"work:request"',
      '"work:submit"',
      '"device:status"',
      '"hub:welcome"',
      '"job:stopped"',
      '"work:available"',
      '"feed:snapshot"',
      '"error"',
      '"connect"',
      '"disconnect"',
      '"disconnecting"',
      '"newListener"',
      '"removeListener"',
      '"connect_error"',
      '"__proto__"',
      '"constructor"',
      '"toString"',
      '"hasOwnProperty"',
      '""',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('0', '1.5', 'null', 'true', '{}', '[]', '-1') },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)) },
);

/** `42/device,5["work:submit",{...}]` and every way of getting it wrong. */
const eventFrame: fc.Arbitrary<Piece[]> = fc
  .tuple(
    fc.constantFrom('42', '42', '42', '43', '46', '41', '4'),
    namespacePart,
    ackIdPart,
    eventNamePart,
    fc.array(payloadText(nearPayload), { maxLength: 3 }),
    fc.constantFrom(']', ']', ']', '', ']]', '],', ' ]'),
  )
  .map(([head, nsp, id, name, args, close]): Piece[] => [head, nsp, id, '[', name, ...args.flatMap((a): Piece[] => [',', ...a]), close]);

/** A namespace CONNECT with a random or near-valid `auth`. */
const connectFrame: fc.Arbitrary<Piece[]> = fc
  .tuple(namespacePart, fc.oneof({ weight: 3, arbitrary: nearAuth.map((a): Piece[] => [JSON.stringify(a) ?? '']) }, { weight: 1, arbitrary: payloadText(nearAuth) }))
  .map(([nsp, auth]): Piece[] => ['40', nsp, ...auth]);

/** A binary event header whose placeholders may point nowhere; binary frames may or may not follow. */
const binaryHeaderFrame: fc.Arbitrary<Piece[]> = fc
  .tuple(
    fc.constantFrom('45', '46'),
    fc.constantFrom('0', '1', '2', '-1', '99999', 'x', '', '1e2'),
    namespacePart,
    ackIdPart,
    eventNamePart,
    fc.constantFrom('0', '1', '-1', '1e9', '"0"', 'null', 'true', '[0]', '{"a":0}', '"__proto__"'),
    fc.boolean(),
  )
  .map(([head, count, nsp, id, name, num, nested]): Piece[] => {
    const placeholder = `{"_placeholder":true,"num":${num}}`;
    return [head, count, '-', nsp, id, '[', name, ',', nested ? `{"leaseId":${placeholder},"results":[${placeholder}]}` : placeholder, ']'];
  });

const engineFrame: fc.Arbitrary<Piece[]> = fc.oneof(
  fc.constantFrom('1', '2', '3', '5', '6', '2probe', '3probe', '4', '0', '7', '', ' ', '40', '41', '44', '4x').map((s): Piece[] => [s]),
  fc.tuple(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'b', '{', ''), fc.string({ maxLength: 30, unit: 'binary' })).map(([t, s]): Piece[] => [t, s]),
  longText(1_000_000).map((p): Piece[] => ['42/device,["work:submit",{"leaseId":"', p, '"}]']),
  longText(1_000_000).map((p): Piece[] => ['4', p]),
);

const textFrame: fc.Arbitrary<Piece[]> = fc
  .oneof(
    { weight: 6, arbitrary: eventFrame },
    { weight: 2, arbitrary: connectFrame },
    { weight: 1, arbitrary: binaryHeaderFrame },
    { weight: 2, arbitrary: engineFrame },
  )
  .filter((pieces) => !wouldLease(render(pieces)));

/** Frames small enough to send thousands of times: events, and namespace CONNECTs (accepted and refused). */
const floodFrame: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('42/device,', '42/device,1', '42/device,77', '42/dashboard,', '42'), eventNamePart, fc.jsonValue({ maxDepth: 1 }))
      .map(([head, name, v]) => `${head}[${name},${JSON.stringify(v)}]`)
      .filter((f) => !wouldLease(f)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      `40/device,${JSON.stringify(deviceAuth('fuzz_flood_device', 1))}`,
      `40/device,${JSON.stringify({ ...deviceAuth('fuzz_flood_device', 1), protocol: 0 })}`,
      `40/device,${JSON.stringify({ ...deviceAuth('bad id', 1) })}`,
      '40/device,{}',
      `40/dashboard,${JSON.stringify({ protocol: PROTOCOL_VERSION, token: 'not-the-token' })}`,
      `40/dashboard,${JSON.stringify({ protocol: PROTOCOL_VERSION, token: 'test-admin-token-0123456789' })}`,
      '40/nope,{}',
      '40',
    ),
  },
);

type BinaryData = { bytes: Uint8Array } | { fill: number; length: number };
const binaryData: fc.Arbitrary<BinaryData> = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes })) },
  { weight: 1, arbitrary: fc.record({ fill: fc.nat({ max: 255 }), length: fc.integer({ min: 0, max: 1_000_000 }) }) },
);

type Step =
  /** `wellFormed`: the parser takes it, so the hub has no reason to close the socket. */
  | { t: 'text'; frame: Piece[]; wellFormed?: true }
  | { t: 'binary'; data: BinaryData }
  | { t: 'flood'; frame: string; count: number }
  | { t: 'pause'; ms: number }
  /** A valid work:request; sent only while the budget of abandoned leases lasts (see MAX_ABANDONED_LEASES). */
  | { t: 'lease'; slots: number }
  /** Correct results for some inputs of this socket's lease, maybe twice in one batch, maybe sent again. */
  | { t: 'submitOwn'; every: number; dup: boolean; again: boolean }
  /** Results (mostly well-formed, often wrong) for inputs this socket does not hold, under its real lease id: none may count. */
  | { t: 'submitForeign'; indexes: number[]; results: Array<Record<string, unknown>> };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: textFrame.map((frame): Step => ({ t: 'text', frame })) },
  { weight: 2, arbitrary: binaryData.map((data): Step => ({ t: 'binary', data })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ frame: floodFrame, count: fc.oneof(fc.integer({ min: 2, max: 200 }), fc.integer({ min: 900, max: 3_500 })) })
      .map((r): Step => ({ t: 'flood', ...r })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }).map((ms): Step => ({ t: 'pause', ms })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }).map((slots): Step => ({ t: 'lease', slots })) },
  {
    weight: 1,
    arbitrary: fc.record({ every: fc.integer({ min: 1, max: 4 }), dup: fc.boolean(), again: fc.boolean() }).map((r): Step => ({ t: 'submitOwn', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ indexes: fc.array(fc.integer({ min: 0, max: 3_100 }), { minLength: 1, maxLength: 8 }), results: fc.array(foreignResult, { minLength: 8, maxLength: 8 }) })
      .map((r): Step => ({ t: 'submitForeign', ...r })),
  },
);

type Session = {
  connect: { t: 'none' } | { t: 'device'; deviceId: string; threads: number } | { t: 'raw'; frame: Piece[] };
  steps: Step[];
  end: 'close' | 'terminate' | 'linger';
};

const deviceConnect = fc.record({ deviceId: validDeviceId, threads: fc.integer({ min: 1, max: 4 }) }).map((d) => ({ t: 'device' as const, ...d }));
const sessionEnd = fc.constantFrom<Session['end']>('close', 'close', 'terminate', 'linger');

/** Anything at all, on a socket that may or may not have joined a namespace: most of it gets the socket closed. */
const garbageSession: fc.Arbitrary<Session> = fc.record({
  connect: fc.oneof(
    { weight: 3, arbitrary: deviceConnect },
    { weight: 2, arbitrary: connectFrame.filter((f) => !wouldLease(render(f))).map((frame) => ({ t: 'raw' as const, frame })) },
    { weight: 1, arbitrary: fc.constant({ t: 'none' as const }) },
  ),
  steps: fc.array(step, { minLength: 1, maxLength: 8 }),
  end: sessionEnd,
});

/** A well-formed event on /device, which the parser passes to the handlers: only the payloads are hostile. */
const wellFormedEvent: fc.Arbitrary<Piece[]> = fc
  .tuple(
    fc.oneof(fc.constant(''), fc.nat({ max: 1_000_000 }).map(String)),
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('"work:request"', '"work:submit"', '"device:status"') },
      { weight: 1, arbitrary: fc.constantFrom('"hub:welcome"', '"nope"', '"error"', '"toString"', '"__proto__"', '"constructor"', '"valueOf"', '1') },
    ),
    fc.array(jsonText(nearPayload), { maxLength: 3 }),
  )
  .map(([id, name, args]): Piece[] => ['42/device,', id, '[', name, ...args.flatMap((a): Piece[] => [',', ...a]), ']'])
  .filter((pieces) => !wouldLease(render(pieces)));

const leaseStep: fc.Arbitrary<Step> = step.filter((st) => st.t === 'lease' || st.t === 'submitOwn' || st.t === 'submitForeign');

/** A device that shakes hands properly and then speaks the protocol with hostile content. */
const protocolSession: fc.Arbitrary<Session> = fc.record({
  connect: deviceConnect,
  steps: fc.array(
    fc.oneof(
      { weight: 8, arbitrary: wellFormedEvent.map((frame): Step => ({ t: 'text', frame, wellFormed: true })) },
      { weight: 3, arbitrary: leaseStep },
      { weight: 1, arbitrary: step },
    ),
    { minLength: 1, maxLength: 10 },
  ),
  end: sessionEnd,
});

/** A device that takes leases, submits for them and for inputs it does not hold, and never breaks the protocol. */
const leaseSession: fc.Arbitrary<Session> = fc.record({
  connect: deviceConnect,
  steps: fc
    .tuple(
      fc.integer({ min: 1, max: 12 }).map((slots): Step => ({ t: 'lease', slots })),
      fc.array(
        fc.oneof(
          { weight: 4, arbitrary: leaseStep },
          { weight: 3, arbitrary: wellFormedEvent.map((frame): Step => ({ t: 'text', frame, wellFormed: true })) },
          { weight: 1, arbitrary: fc.integer({ min: 1, max: 20 }).map((ms): Step => ({ t: 'pause', ms })) },
        ),
        { minLength: 1, maxLength: 8 },
      ),
    )
    .map(([first, rest]) => [first, ...rest]),
  end: fc.constantFrom<Session['end']>('close', 'linger'),
});

const session: fc.Arbitrary<Session> = fc.oneof(
  { weight: 2, arbitrary: protocolSession },
  { weight: 2, arbitrary: leaseSession },
  { weight: 2, arbitrary: garbageSession },
);

/** A session that, if the hub behaves, ends with every lease it took handed back. */
const safeSession = (s: Session): boolean =>
  s.connect.t === 'device' && s.end !== 'terminate' && s.steps.every((st) => (st.t === 'text' ? st.wellFormed === true : st.t !== 'binary' && st.t !== 'flood'));

// ---- running a socket session ------------------------------------------------------------------

let ackIds = 900_000;

function parseAck(frame: string, prefix: string): unknown {
  try {
    const args = JSON.parse(frame.slice(prefix.length)) as unknown;
    return Array.isArray(args) ? args[0] : undefined;
  } catch {
    return undefined;
  }
}

/** Problems with the frames the hub sent to one hostile socket. */
function frameProblems(frames: ReadonlyArray<string | Buffer>): string[] {
  const problems: string[] = [];
  for (const frame of frames) {
    if (typeof frame !== 'string') {
      problems.push(`the hub sent a binary frame (${frame.length} bytes)`);
      continue;
    }
    const ack = /^43(\/[^,]*,)?(\d+)/.exec(frame);
    if (ack) {
      const value = parseAck(frame, ack[0]);
      count(`ws ack ${isRecord(value) && value['ok'] === true ? 'ok' : isRecord(value) && isRecord(value['error']) ? String(value['error']['code']) : '?'}`);
      if (!isRecord(value)) {
        problems.push(`an ack that is not an Ack object: ${frame.slice(0, 300)}`);
      } else if (value['ok'] === true) {
        if (!('data' in value)) problems.push(`an ok ack without data: ${frame.slice(0, 300)}`);
      } else if (value['ok'] === false) {
        const error = value['error'];
        if (!isRecord(error) || typeof error['code'] !== 'string' || !SNAKE_CASE.test(error['code']) || typeof error['message'] !== 'string' || error['message'] === '') {
          problems.push(`an error ack off contract: ${frame.slice(0, 300)}`);
        } else if (!ACK_ERROR_CODES.has(error['code'])) {
          problems.push(`an error ack with code "${error['code']}" (a handler failed): ${frame.slice(0, 500)}`);
        }
      } else {
        problems.push(`an ack without ok: ${frame.slice(0, 300)}`);
      }
      continue;
    }
    const refused = /^44(\/device|\/dashboard),/.exec(frame);
    if (refused) {
      let body: unknown;
      try {
        body = JSON.parse(frame.slice(refused[0].length));
      } catch {
        body = undefined;
      }
      const code = isRecord(body) && isRecord(body['data']) ? body['data']['code'] : undefined;
      count(`ws connect refused ${String(code)}`);
      if (!(Object.values(CONNECT_REFUSALS) as unknown[]).includes(code)) problems.push(`a connect refusal without a known code: ${frame.slice(0, 300)}`);
    }
  }
  return problems;
}

async function runSession(s: Session): Promise<void> {
  const violations: string[] = [];
  const logsBefore = hub.logs.length;
  const socket = await RawSocket.open(hub.url);
  /** Leases this socket got, and which of their inputs it has handed back. */
  const grants: LeaseGrant[] = [];
  const returned = new Set<string>();
  const key = (g: LeaseGrant, index: number): string => `${g.leaseId}#${index}`;
  const outstanding = (): LeaseGrant[] => grants.filter((g) => g.items.some((item) => !returned.has(key(g, item.index))));
  const correct = (item: LeaseGrant['items'][number]) => ({ index: item.index, ok: true, json: JSON.stringify(2 * (item.input as number)) });
  let grant: LeaseGrant | null = null;
  const safe = safeSession(s);
  try {
    if (s.connect.t === 'device') {
      socket.send(`40/device,${JSON.stringify(deviceAuth(s.connect.deviceId, s.connect.threads))}`);
      const reply = await socket.until((f) => /^4[04]\/device,/.test(f), 5000, 'an answer to a valid /device handshake');
      if (!reply.startsWith('40/device,')) violations.push(`a valid device handshake was refused: ${reply}`);
    } else if (s.connect.t === 'raw') {
      socket.send(render(s.connect.frame));
    }

    for (const st of s.steps) {
      if (!socket.isOpen) break;
      switch (st.t) {
        case 'text':
          socket.send(render(st.frame));
          break;
        case 'binary':
          socket.send('bytes' in st.data ? Buffer.from(st.data.bytes) : Buffer.alloc(st.data.length, st.data.fill));
          break;
        case 'flood':
          for (let i = 0; i < st.count && socket.isOpen; i++) socket.send(st.frame);
          count(`ws flood of ${st.frame.startsWith('40') ? 'CONNECTs' : 'events'}`);
          count(`ws flooded ${st.frame.startsWith('40') ? 'CONNECTs' : 'events'}`, st.count);
          break;
        case 'pause':
          await new Promise((r) => setTimeout(r, st.ms));
          break;
        case 'lease': {
          // A session that may break the protocol leaves a reserve for safe ones that get cut off anyway.
          const slots = abandonableLeases - outstanding().length > (safe ? 0 : 3) ? st.slots : 0;
          const id = ackIds++;
          const from = socket.frames.length;
          socket.send(`42/device,${id}["work:request",{"slots":${slots}}]`);
          const reply = await socket.find((f) => f.startsWith(`43/device,${id}[`), 3000, from);
          const ack = reply === undefined ? undefined : parseAck(reply, `43/device,${id}`);
          if (isRecord(ack) && ack['ok'] === true && isRecord(ack['data'])) {
            grant = ack['data'] as unknown as LeaseGrant;
            grants.push(grant);
            count('ws lease granted');
          }
          break;
        }
        case 'submitOwn': {
          const g = grant;
          if (!g || g.jobId !== realJobId) break;
          const mine = g.items.filter((_, i) => i % st.every === 0);
          const fresh = new Set(mine.map((item) => item.index).filter((index) => !returned.has(key(g, index))));
          const results = mine.flatMap((item) => (st.dup ? [correct(item), correct(item)] : [correct(item)]));
          for (let round = 0; round < (st.again ? 2 : 1); round++) {
            const receipt = await submitAndAwait(socket, g.leaseId, results);
            if (receipt === undefined) break; // rate limited or disconnected: nothing to check
            const expected = round === 0 ? fresh.size : 0;
            // A tail copy loses to a holder that reported first: its results may be dropped, never counted twice.
            const copy = isTailCopy(g.leaseId);
            if (copy ? receipt.accepted > expected : receipt.accepted !== expected) {
              violations.push(
                `correct results for ${mine.length} leased inputs (${st.dup ? 'each twice' : 'once each'}, round ${round + 1}) were accepted ${receipt.accepted} times, expected ${expected}`,
              );
            }
            if (round === 0) for (const index of fresh) returned.add(key(g, index));
            count('ws own results accepted', receipt.accepted);
          }
          break;
        }
        case 'submitForeign': {
          const own = new Set(grant?.items.map((item) => item.index) ?? []);
          const indexes = st.indexes.filter((index) => !own.has(index));
          if (indexes.length === 0) break;
          const results = indexes.map((index, i) => ({ ...st.results[i % st.results.length], index }));
          const receipt = await submitAndAwait(socket, grant?.leaseId ?? 'lease_not_granted', results);
          if (receipt !== undefined) count(`ws foreign results ${grant ? 'under a real lease' : 'under no lease'}`, results.length);
          if (receipt !== undefined && receipt.accepted !== 0) {
            violations.push(`results for inputs ${JSON.stringify(indexes)} that this socket does not hold were accepted (${receipt.accepted}): ${JSON.stringify(results).slice(0, 300)}`);
          }
          break;
        }
      }
    }
    // An honest ending: hand back, with correct results, what is still leased (unless the socket is to vanish).
    if (s.end !== 'terminate') {
      for (const g of outstanding()) {
        if (!socket.isOpen || g.jobId !== realJobId) continue;
        const left = g.items.filter((item) => !returned.has(key(g, item.index)));
        const receipt = await submitAndAwait(socket, g.leaseId, left.map(correct));
        if (receipt === undefined) continue;
        // A tail copy (a second run of inputs another device holds) loses to a holder that reported first: its results are dropped.
        const copy = isTailCopy(g.leaseId);
        if (copy ? receipt.accepted + receipt.dropped !== left.length : receipt.accepted !== left.length) {
          violations.push(`handing back ${left.length} leased inputs${copy ? ' (a tail copy)' : ''} with correct results: ${receipt.accepted} accepted, ${receipt.dropped} dropped`);
        }
        if (copy) count('ws tail copies handed back');
        for (const item of left) returned.add(key(g, item.index));
        count('ws leased inputs handed back', receipt.accepted);
      }
      // A CONNECT to a namespace that does not exist is refused in order, after everything sent before it:
      // once its refusal is back, so are the answers to the session's frames.
      const sentinel = `/fuzz_sentinel_${ackIds++}`;
      socket.send(`40${sentinel},`);
      await socket.find((f) => f.startsWith(`44${sentinel},`), 5000);
      await socket.quiet(20, 300);
    }
    violations.push(...frameProblems(socket.frames));
    count(`ws session ${s.connect.t}`);
    if (socket.frames.some((f) => typeof f === 'string' && /^40\/(device|dashboard),\{"sid"/.test(f))) count('ws namespace connected');
    if (socket.closeCode !== null) count(`ws closed by hub (${socket.closeCode})`);
  } finally {
    if (s.end === 'terminate') socket.terminate();
    else socket.close();
    const abandoned = outstanding().length;
    abandonableLeases -= abandoned;
    count('ws leases abandoned', abandoned);
  }
  await probeDeviceSocket(violations);
  if (violations.some((v) => v.includes('too_many_connections'))) {
    const tally = (re: RegExp) => socket.frames.filter((f) => typeof f === 'string' && re.test(f)).length;
    const refused = [...seen].filter(([k]) => k.startsWith('ws connect refused ')).map(([k, v]) => `${k.slice('ws connect refused '.length)}: ${v}`);
    violations.push(
      `every hostile socket is closed, yet 127.0.0.1 is refused at the cap of ${CONNECTIONS_PER_ADDRESS} connections per address ` +
        `(the honest devices hold ${devices.length}). This session's namespace CONNECTs: ${tally(/^40\/(device|dashboard),\{"sid"/)} accepted, ` +
        `${tally(/^44\/(device|dashboard),/)} refused; CONNECTs refused so far in this phase: ${refused.join(', ') || 'none'}`,
    );
  }
  await expectFleetAndRealJobIntact(violations);
  await expectHealthy(violations, logsBefore);
  fail(violations);
}

let lastRealCompleted = 0;

/**
 * Once the hostile socket is gone, only the two honest devices (2 threads each) are online, and
 * the real job has lost nothing: not failed, progress never going back.
 */
async function expectFleetAndRealJobIntact(violations: string[]): Promise<void> {
  const honest = { devices: devices.length, threads: devices.length * 2 };
  let stats: unknown;
  let settled = false;
  for (const deadline = Date.now() + 3000; !settled && Date.now() < deadline; ) {
    stats = (await hub.api('GET', '/api/stats')).body;
    settled = isRecord(stats) && stats['devices'] === honest.devices && stats['threads'] === honest.threads;
    if (!settled) await new Promise((r) => setTimeout(r, 5));
  }
  if (!settled) violations.push(`3 s after the hostile socket closed, /api/stats still says ${JSON.stringify(stats)}; only the ${honest.devices} honest devices (${honest.threads} threads) are online`);
  const job = (await hub.api<Job>('GET', `/api/jobs/${realJobId}`)).body;
  if (job.status === 'failed' || job.status === 'cancelled') violations.push(`the real job is ${job.status}: ${JSON.stringify(job.error)}`);
  if (job.progress.failed !== 0 || job.progress.completed < lastRealCompleted || job.progress.completed > job.progress.total) {
    violations.push(`the real job's progress went wrong: ${JSON.stringify(job.progress)} after ${lastRealCompleted} completed`);
  }
  lastRealCompleted = job.progress.completed;
}

async function submitAndAwait(socket: RawSocket, leaseId: string, results: unknown[]): Promise<{ accepted: number; dropped: number } | undefined> {
  const id = ackIds++;
  const from = socket.frames.length;
  socket.send(`42/device,${id}${JSON.stringify(['work:submit', { leaseId, results }])}`);
  const reply = await socket.find((f) => f.startsWith(`43/device,${id}[`), 3000, from);
  const ack = reply === undefined ? undefined : parseAck(reply, `43/device,${id}`);
  if (!isRecord(ack) || ack['ok'] !== true || !isRecord(ack['data'])) return undefined;
  const { accepted, dropped } = ack['data'];
  return isNat(accepted) && isNat(dropped) ? { accepted, dropped } : undefined;
}

/** Set once the probe is refused for `too_many_connections`: reported there, and not again by every later case. */
let lockedOut: string | null = null;

/** A fresh, well-behaved socket still gets a /device handshake and an ack. */
async function probeDeviceSocket(violations: string[]): Promise<void> {
  if (lockedOut !== null) {
    count('probe skipped (address locked out earlier)');
    return;
  }
  let probe: RawSocket | undefined;
  try {
    probe = await RawSocket.open(hub.url);
    probe.send(`40/device,${JSON.stringify(deviceAuth('fuzz_probe_device', 1))}`);
    const joined = await probe.until((f) => /^4[04]\/device,/.test(f), 5000, 'an answer to the probe device handshake');
    if (!joined.startsWith('40/device,')) {
      if (joined.includes('too_many_connections')) lockedOut = joined;
      throw new Error(`its valid handshake was refused: ${joined}`);
    }
    probe.send('42/device,1["work:request",{"slots":0}]');
    const reply = await probe.until((f) => f.startsWith('43/device,1['), 5000, 'the probe ack');
    const ack = parseAck(reply, '43/device,1');
    if (!isRecord(ack) || ack['ok'] !== false || !isRecord(ack['error']) || ack['error']['code'] !== 'invalid_payload') {
      violations.push(`the probe's invalid request got ${reply}`);
    }
  } catch (err) {
    violations.push(`a fresh device socket was not served: ${(err as Error).message}`);
  } finally {
    probe?.close();
  }
}

// ---- arbitraries: HTTP -------------------------------------------------------------------------

type IdSpec = { t: 'real' } | { t: 'created'; n: number } | { t: 'text'; text: Piece[] };
type Target = { t: 'fixed'; path: string } | { t: 'job'; id: IdSpec; suffix: string } | { t: 'random'; path: Piece[] };
type AuthSpec = { t: 'none' } | { t: 'variant'; n: number } | { t: 'header'; value: string };
type BodySpec = { t: 'text'; pieces: Piece[] } | { t: 'bytes'; bytes: Uint8Array } | { t: 'spec'; spec: Record<string, unknown> };
interface HttpCase {
  method: string;
  target: Target;
  query: Piece[] | null;
  auth: AuthSpec;
  contentType: string | null;
  accept: string | null;
  body: BodySpec | null;
  chunked: boolean;
}

const TOKEN = 'test-admin-token-0123456789';
const AUTH_VARIANTS = [
  `Bearer ${TOKEN}`,
  `bearer ${TOKEN}`,
  `BEARER    ${TOKEN}   `,
  `Bearer\t${TOKEN}`,
  `Bearer ${TOKEN}x`,
  `Bearer ${TOKEN.slice(0, -1)}`,
  `Bearer ${TOKEN} ${TOKEN}`,
  'Bearer',
  'Bearer ',
  `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`,
  TOKEN,
  `Bearer ${TOKEN.toUpperCase()}`,
  `Token ${TOKEN}`,
  `Bearer "${TOKEN}"`,
  `Bearer ${TOKEN}\u00e9`,
];

const idSpec: fc.Arbitrary<IdSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<IdSpec>({ t: 'real' }) },
  { weight: 3, arbitrary: fc.nat({ max: 1000 }).map((n): IdSpec => ({ t: 'created', n })) },
  {
    weight: 4,
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 30, unit: 'binary' }).map((s): Piece[] => [s]),
        fc.constantFrom('..', '.', '%2e%2e', '..%2f..%2f..%2fetc%2fpasswd', '%2F', '%00', '%', '%zz', '%E0%A4%A', '%C0%AF', 'job_', 'job_%20', '%ff%fe', '\u0000', '%uD800', ';', 'a;b=c', '*', '$', '..\\..\\', '__proto__', 'constructor').map((s): Piece[] => [s]),
        fc.integer({ min: 100, max: 4000 }).map((n): Piece[] => [{ repeat: 'a', times: n }]),
        fc.string({ maxLength: 12, unit: 'grapheme' }).map((s): Piece[] => [s]),
      )
      .map((text): IdSpec => ({ t: 'text', text })),
  },
);

const target: fc.Arbitrary<Target> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .constantFrom(
        '/api/jobs',
        '/api/jobs',
        '/api/devices',
        '/api/stats',
        '/healthz',
        '/metrics',
        '/',
        '/dashboard',
        '/dashboard/',
        '/assets/x.js',
        '/assets/../../etc/passwd',
        '/api',
        '/api/',
        '/API/jobs',
        '/api//jobs',
        '//api/jobs',
        '/api/jobs/',
        '/api/nope',
        '/api/jobs/x/y/z',
        '/socket.io/',
        '/socket.io/?EIO=4&transport=polling',
        '/socket.io/?EIO=4&transport=polling&sid=nope',
        '/socket.io/?EIO=3&transport=polling',
        '/socket.io/?EIO=4&transport=websocket',
        '/api/%6aobs',
        '/%61pi/stats',
      )
      .map((path): Target => ({ t: 'fixed', path })),
  },
  {
    weight: 6,
    arbitrary: fc
      .record({ id: idSpec, suffix: fc.constantFrom('', '', '/results', '/results', '/cancel', '/cancel', '/results/', '/cancel/x', '/', '/..', '/%2e%2e', '//results') })
      .map((r): Target => ({ t: 'job', ...r })),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }).map((s): Target => ({ t: 'random', path: ['/', s] })) },
);

const queryValue = fc.oneof(
  fc.constantFrom('0', '1', '100', '1000', '1001', '10000', '100000', '100001', '-1', '1.5', '1e3', ' 1', '+1', '0x10', 'NaN', '', '9'.repeat(30), '%', '%E0', '١', '9007199254740991', '9007199254740992'),
  fc.string({ maxLength: 10, unit: 'binary' }),
);
const query: fc.Arbitrary<Piece[] | null> = fc.option(
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom('offset', 'limit', 'offset', 'limit', '', 'x', 'OFFSET'), fc.string({ maxLength: 6 })), queryValue, fc.boolean()), { maxLength: 4 })
    .map((pairs): Piece[] => ['?', pairs.map(([k, v, eq]) => (eq ? `${k}=${v}` : k)).join('&')]),
  { nil: null },
);

/** JobSpec-shaped values: each field valid, near-valid or wrong, with and without the required ones. */
const specField = {
  name: fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom<unknown>('x'.repeat(200), 'x'.repeat(201), '', null, 5)),
  code: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom<unknown>(...HARMLESS_CODE) },
    { weight: 3, arbitrary: fc.constantFrom<unknown>('(n) => {', 'console.log(1)', 'n => n; 1', '', '   ', '()=>', 'function', 'async', 'class {}', '`${', 'import("x")', '(n) => n)', 'new Function("")', '1 + 1', '(a, a) => { "use strict"; }') },
    { weight: 2, arbitrary: fc.oneof(fc.string({ maxLength: 30, unit: 'binary' }), fc.jsonValue({ maxDepth: 1 })) },
  ),
  inputs: fc.oneof(
    { weight: 3, arbitrary: fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 5 }) },
    {
      weight: 3,
      arbitrary: fc.record({ range: fc.record({ start: intish, end: intish, step: intish }, { requiredKeys: [] }) }, { requiredKeys: [] }),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom<unknown>(
        { range: { start: 0, end: 10_000_000 } },
        { range: { start: 0, end: 10_000_001 } },
        { range: { start: -(2 ** 53) + 1, end: 2 ** 53 - 1 } },
        { range: { start: 0, end: 10, step: 0 } },
        { range: { start: 5, end: 5 } },
        { range: { start: 0, end: 3, extra: 1 } },
        { range: { start: 0, end: 3 }, extra: 1 },
        [],
        [[[[[[[[[[1]]]]]]]]]],
        {},
        'range',
        null,
      ),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  ),
  reduce: fc.oneof(fc.constantFrom<unknown>(...REDUCERS), fc.constantFrom<unknown>('SUM', '', 'avg', null, ['sum']), fc.jsonValue({ maxDepth: 1 })),
  timeoutMs: fc.oneof(intish, fc.constantFrom<unknown>(99, 100, 3_600_000, 3_600_001)),
  maxAttempts: fc.oneof(intish, fc.constantFrom<unknown>(0, 1, 20, 21)),
  meta: fc.oneof(
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'view')), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
    fc.constantFrom<unknown>({ big: 'x'.repeat(4100) }, { big: 'x'.repeat(4000) }, [], null, 'meta'),
    fc.jsonValue({ maxDepth: 2 }),
  ),
  priority: intish,
  replication: intish,
  colour: fc.constant<unknown>('red'),
};
/** A JobSpec the hub must accept (its code is harmless). */
const validSpec: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    name: fc.string({ maxLength: 50, unit: 'grapheme' }),
    code: fc.constantFrom(...HARMLESS_CODE),
    inputs: fc.oneof(
      fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: 1, maxLength: 5 }),
      fc
        .record({ start: fc.integer({ min: -1000, max: 1000 }), length: fc.integer({ min: 1, max: 1000 }), step: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }) })
        .map(({ start, length, step }) => ({ range: step === undefined ? { start, end: start + length } : { start, end: start + length, step } })),
    ),
    reduce: fc.constantFrom(...REDUCERS),
    timeoutMs: fc.integer({ min: 100, max: 3_600_000 }),
    maxAttempts: fc.integer({ min: 1, max: 20 }),
    meta: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  },
  { requiredKeys: ['code', 'inputs'] },
);

const specMutation: fc.Arbitrary<[string, unknown]> = fc.oneof(
  ...Object.entries(specField).map(([key, arb]) => arb.map((v): [string, unknown] => [key, v])),
);

const jobSpec: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 3, arbitrary: validSpec },
  { weight: 3, arbitrary: fc.tuple(validSpec, specMutation).map(([spec, [key, value]]) => ({ ...spec, [key]: value })) },
  { weight: 1, arbitrary: fc.record(specField, { requiredKeys: ['code', 'inputs'] }) },
  { weight: 1, arbitrary: fc.record(specField, { requiredKeys: [] }) },
);

const body: fc.Arbitrary<BodySpec | null> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 8, arbitrary: jobSpec.map((spec): BodySpec => ({ t: 'spec', spec })) },
  { weight: 3, arbitrary: payloadText(jobSpec).map((pieces): BodySpec => ({ t: 'text', pieces })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('name', 'code'), fc.integer({ min: 200, max: 1_000_000 }))
      .map(([field, n]): BodySpec => ({
        t: 'text',
        pieces: field === 'name' ? ['{"code":"(n) => n","inputs":[1],"name":"', { repeat: 'x', times: n }, '"}'] : ['{"code":"', { repeat: ' ', times: n }, '(n) => n","inputs":[1]}'],
      })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): BodySpec => ({ t: 'bytes', bytes })) },
);

/** Keeps the fuzzer from getting a job with code the devices would run that is not known to be harmless. */
function harmlessBody(b: BodySpec | null): boolean {
  if (b === null || b.t === 'bytes') return true;
  let value: unknown;
  if (b.t === 'spec') value = b.spec;
  else {
    try {
      value = JSON.parse(render(b.pieces));
    } catch {
      return true;
    }
  }
  if (!isRecord(value) || typeof value['code'] !== 'string') return true;
  const code = value['code'];
  return !checkJobCode(code).ok || HARMLESS_CODE.includes(code.trim());
}

const headerValue = fc.string({ maxLength: 60, unit: 'binary' }).map((s) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, ''));

const authSpec: fc.Arbitrary<AuthSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<AuthSpec>({ t: 'variant', n: 0 }) },
  { weight: 3, arbitrary: fc.nat({ max: AUTH_VARIANTS.length - 1 }).map((n): AuthSpec => ({ t: 'variant', n })) },
  { weight: 1, arbitrary: fc.constant<AuthSpec>({ t: 'none' }) },
  { weight: 1, arbitrary: headerValue.map((value): AuthSpec => ({ t: 'header', value })) },
);
const contentType = fc.option(
  fc.oneof(
    fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=----x', 'application/octet-stream', '', 'application/json; charset=latin1'),
    headerValue,
  ),
  { nil: null },
);
const accept = fc.option(fc.constantFrom('application/json', 'application/x-ndjson', '*/*', 'text/html', ''), { nil: null });

/** Anything at any route. */
const anyCase: fc.Arbitrary<HttpCase> = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'POST', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'PURGE'),
  target,
  query,
  auth: authSpec,
  contentType,
  accept,
  body: body.filter(harmlessBody),
  chunked: fc.boolean(),
});

/** Job submissions: the body is what is fuzzed. */
const submitCase: fc.Arbitrary<HttpCase> = fc.record({
  method: fc.oneof({ weight: 9, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constant('PUT') }),
  target: fc.oneof(
    { weight: 8, arbitrary: fc.constant<Target>({ t: 'fixed', path: '/api/jobs' }) },
    { weight: 1, arbitrary: fc.constantFrom<Target>({ t: 'fixed', path: '/api/jobs/' }, { t: 'fixed', path: '/api/%6aobs' }) },
  ),
  query,
  auth: fc.oneof({ weight: 8, arbitrary: fc.constant<AuthSpec>({ t: 'variant', n: 0 }) }, { weight: 1, arbitrary: authSpec }),
  contentType,
  accept,
  body: body.filter(harmlessBody),
  chunked: fc.boolean(),
});

/** One job's routes, with ids real, created, missing and malformed. */
const jobCase: fc.Arbitrary<HttpCase> = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'POST', 'DELETE', 'HEAD', 'PUT'),
  target: fc
    .record({ id: idSpec, suffix: fc.constantFrom('', '', '/results', '/results', '/cancel', '/cancel', '/results/', '/cancel/x', '/', '/..', '/%2e%2e', '//results') })
    .map((r): Target => ({ t: 'job', ...r })),
  query,
  auth: fc.oneof({ weight: 8, arbitrary: fc.constant<AuthSpec>({ t: 'variant', n: 0 }) }, { weight: 1, arbitrary: authSpec }),
  contentType,
  accept,
  body: fc.option(fc.jsonValue({ maxDepth: 2 }).map((v): BodySpec => ({ t: 'text', pieces: [JSON.stringify(v)] })), { nil: null }),
  chunked: fc.boolean(),
});

/** Paged lists: the query is what is fuzzed. */
const pageCase: fc.Arbitrary<HttpCase> = fc.record({
  method: fc.constant('GET'),
  target: fc.oneof(
    fc.constantFrom<Target>({ t: 'fixed', path: '/api/jobs' }, { t: 'fixed', path: '/api/devices' }, { t: 'fixed', path: '/api/stats' }),
    fc.constantFrom<IdSpec>({ t: 'real' }, { t: 'created', n: 0 }, { t: 'created', n: 1 }).map((id): Target => ({ t: 'job', id, suffix: '/results' })),
  ),
  query: query.map((q) => q ?? ['?offset=0&limit=10']),
  auth: fc.constant<AuthSpec>({ t: 'variant', n: 0 }),
  contentType: fc.constant(null),
  accept,
  body: fc.constant(null),
  chunked: fc.constant(false),
});

const httpCase: fc.Arbitrary<HttpCase> = fc.oneof(
  { weight: 4, arbitrary: submitCase },
  { weight: 4, arbitrary: jobCase },
  { weight: 2, arbitrary: pageCase },
  { weight: 3, arbitrary: anyCase },
);

// ---- running an HTTP case -----------------------------------------------------------------------

/** Percent-encodes what Node's HTTP client refuses in a path (and `#`, which no client sends). */
function sendablePath(raw: string): string {
  let out = '';
  for (const ch of raw) {
    const code = ch.codePointAt(0) ?? 0;
    out += code > 0x20 && code < 0x7f && ch !== '#' ? ch : encodeURIComponent(ch).replace(/%(?![0-9A-F]{2})/g, '%25');
  }
  return out;
}

function renderTarget(c: HttpCase): string {
  const t = c.target;
  let path: string;
  if (t.t === 'fixed') path = t.path;
  else if (t.t === 'random') path = render(t.path);
  else {
    const readOnly = c.method === 'GET' || c.method === 'HEAD';
    let id: string;
    if (t.id.t === 'real' && readOnly) id = realJobId;
    else if (t.id.t === 'text') id = render(t.id.text);
    else {
      const n = t.id.t === 'created' ? t.id.n : 0;
      id = createdJobIds.length > 0 ? (createdJobIds[n % createdJobIds.length] ?? 'job_none') : 'job_none';
    }
    path = `/api/jobs/${id}${t.suffix}`;
  }
  if (c.query) path += render(c.query);
  // The real job must survive: no request but GET and HEAD may reach it, whatever the dot segments.
  if (!(c.method === 'GET' || c.method === 'HEAD') && realJobId !== '' && path.includes(realJobId)) path = path.split(realJobId).join('job_none');
  return sendablePath(path);
}

function renderAuth(a: AuthSpec): string | null {
  if (a.t === 'none') return null;
  if (a.t === 'header') return a.value;
  return AUTH_VARIANTS[a.n] ?? null;
}

/** What the contract says about a header: `Bearer TOKEN`, any case for the scheme, surrounding spaces allowed. */
function authorizes(header: string | null): boolean {
  if (header === null) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header.replace(/^[ \t]+|[ \t]+$/g, ''));
  return m?.[1] === TOKEN;
}

function renderBody(b: BodySpec | null): Buffer | null {
  if (b === null) return null;
  if (b.t === 'bytes') return Buffer.from(b.bytes);
  return Buffer.from(b.t === 'spec' ? JSON.stringify(b.spec) : render(b.pieces), 'utf8');
}

/** The path as the hub's router sees it: URL-normalised, then percent-decoded where it can be. */
function routedPath(pathWithQuery: string): string | null {
  let pathname: string;
  try {
    pathname = new URL(`http://127.0.0.1${pathWithQuery}`).pathname;
  } catch {
    return null;
  }
  try {
    return decodeURI(pathname);
  } catch {
    return pathname.replace(/(?:%[0-9A-Fa-f]{2})+/g, (m) => {
      try {
        return decodeURI(m);
      } catch {
        return m;
      }
    });
  }
}

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(method: string, path: string, headers: Record<string, string>, payload: Buffer | null, chunked: boolean): Promise<HttpAnswer> {
  const { port } = new URL(hub.url);
  return new Promise((ok, ko) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', ko);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within 10 s to ${method} ${path.slice(0, 200)}`)));
    req.on('error', ko);
    // Frame the body explicitly: Node sends no Content-Length of its own for GET, DELETE or OPTIONS.
    if (payload !== null && chunked && payload.length > 1) req.setHeader('Transfer-Encoding', 'chunked');
    else if (payload !== null) req.setHeader('Content-Length', String(payload.length));
    if (payload !== null && chunked && payload.length > 1) {
      const cut = Math.floor(payload.length / 2);
      req.write(payload.subarray(0, cut));
      req.end(payload.subarray(cut));
    } else req.end(payload ?? undefined);
  });
}

function errorBodyProblems(status: number, text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [`a ${status} whose body is not JSON: ${text.slice(0, 300)}`];
  }
  const error = isRecord(parsed) ? parsed['error'] : undefined;
  if (!isRecord(parsed) || Object.keys(parsed).length !== 1 || !isRecord(error)) return [`a ${status} whose body is not {"error": {...}}: ${text.slice(0, 300)}`];
  const code = error['code'];
  const message = error['message'];
  if (typeof code !== 'string' || !SNAKE_CASE.test(code)) return [`a ${status} whose error.code is not snake_case: ${text.slice(0, 300)}`];
  if (typeof message !== 'string' || message.trim() === '') return [`a ${status} whose error.message is empty: ${text.slice(0, 300)}`];
  const mapped = (HTTP_ERROR_STATUS as Record<string, number>)[code];
  if (code === 'internal' || mapped !== status) return [`a ${status} with error code "${code}": ${text.slice(0, 500)}`];
  return [];
}

/** Whether the hub granted this lease as a tail copy (its results lose to the holder's). */
function isTailCopy(leaseId: string): boolean {
  return hub.store.db.prepare<[string], { speculative: number }>('SELECT speculative FROM leases WHERE id = ?').get(leaseId)?.speculative === 1;
}

/** Checks a 201 against the spec it was created from, then cancels (and sometimes deletes) the new job. */
async function checkCreated(specText: string, created: unknown, violations: string[]): Promise<void> {
  violations.push(...jobProblems(created));
  if (!isRecord(created) || typeof created['id'] !== 'string') return;
  const id = created['id'];
  createdJobIds.push(id);
  const spec = JSON.parse(specText) as Record<string, unknown>;
  const inputs = spec['inputs'];
  const range = isRecord(inputs) && isRecord(inputs['range']) ? inputs['range'] : null;
  const expected = {
    name: spec['name'] ?? 'job',
    status: 'queued',
    reduce: spec['reduce'] ?? 'collect',
    meta: spec['meta'] ?? {},
    timeoutMs: spec['timeoutMs'] ?? 60_000,
    maxAttempts: spec['maxAttempts'] ?? 3,
    total: Array.isArray(inputs)
      ? inputs.length
      : range
        ? rangeLength({ start: range['start'] as number, end: range['end'] as number, step: (range['step'] as number | undefined) ?? 1 })
        : -1,
  };
  const progress = isRecord(created['progress']) ? created['progress'] : {};
  const actual = {
    name: created['name'],
    status: created['status'],
    reduce: created['reduce'],
    meta: created['meta'],
    timeoutMs: created['timeoutMs'],
    maxAttempts: created['maxAttempts'],
    total: progress['total'],
  };
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    violations.push(`a 201 Job does not match its spec: got ${JSON.stringify(actual).slice(0, 400)}, expected ${JSON.stringify(expected).slice(0, 400)}`);
  }
  if (created['startedAt'] !== null || created['finishedAt'] !== null || progress['completed'] !== 0 || progress['failed'] !== 0) {
    violations.push(`a new job is not fresh: ${JSON.stringify(created).slice(0, 400)}`);
  }
  const cancelled = await hub.api<Job | { error: { code: string } }>('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
  if (cancelled.status === 200) {
    if ((cancelled.body as Job).status !== 'cancelled') violations.push(`cancel answered 200 with ${JSON.stringify(cancelled.body).slice(0, 300)}`);
  } else if (cancelled.status !== 409) {
    violations.push(`cancelling a new job answered ${cancelled.status} ${JSON.stringify(cancelled.body).slice(0, 300)}`);
  }
  if (createdJobIds.length % 2 === 0) {
    const deleted = await fetch(`${hub.url}/api/jobs/${encodeURIComponent(id)}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
    if (deleted.status !== 204) violations.push(`deleting a new job answered ${deleted.status} ${await deleted.text()}`);
  }
}

/** Shapes of the 200 answers, per route (`accept` is the request's Accept header, `contentType` the answer's). */
function okBodyProblems(method: string, route: string, text: string, accept: string | null, contentType: string | undefined): string[] {
  const isResults = method === 'GET' && /^\/api\/jobs\/[^/]+\/results$/.test(route);
  if (isResults && accept === 'application/x-ndjson') {
    if (contentType !== 'application/x-ndjson') return [`GET ${route} with Accept: application/x-ndjson answered Content-Type ${contentType}`];
    if (text !== '' && !text.endsWith('\n')) return [`GET ${route} streamed NDJSON that does not end with a line break: ${text.slice(-200)}`];
    const lines = text.split('\n').slice(0, -1);
    const bad = lines.findIndex((line) => {
      try {
        JSON.parse(line);
        return line.includes('\n');
      } catch {
        return true;
      }
    });
    return bad === -1 ? [] : [`GET ${route} streamed line ${bad} that is not one JSON value: ${lines[bad]?.slice(0, 200)}`];
  }
  let b: unknown;
  try {
    b = JSON.parse(text);
  } catch {
    return [`a 200 from ${method} ${route} that is not JSON: ${text.slice(0, 200)}`];
  }
  const seg = route.split('/');
  if (method === 'GET' && route === '/api/jobs') {
    if (!isRecord(b) || !isNat(b['total']) || !Array.isArray(b['jobs'])) return [`GET /api/jobs answered ${text.slice(0, 300)}`];
    return b['jobs'].flatMap(jobProblems);
  }
  if (method === 'GET' && seg.length === 4 && seg[1] === 'api' && seg[2] === 'jobs') return jobProblems(b);
  if (method === 'GET' && seg.length === 5 && seg[2] === 'jobs' && seg[4] === 'results') {
    if (!isRecord(b) || !isNat(b['total']) || !isNat(b['offset']) || !Array.isArray(b['results']) || !Array.isArray(b['missing']) || !b['missing'].every(isNat)) {
      return [`GET ${route} answered ${text.slice(0, 300)}`];
    }
    return [];
  }
  if (method === 'POST' && seg.length === 5 && seg[2] === 'jobs' && seg[4] === 'cancel') {
    const p = jobProblems(b);
    return isRecord(b) && b['status'] === 'cancelled' ? p : [...p, `POST ${route} answered 200 with a job that is not cancelled: ${text.slice(0, 300)}`];
  }
  if (method === 'GET' && route === '/api/devices') {
    if (!isRecord(b) || !isNat(b['total']) || !Array.isArray(b['devices'])) return [`GET /api/devices answered ${text.slice(0, 300)}`];
    const bad = b['devices'].filter(
      (d) =>
        !isRecord(d) ||
        typeof d['id'] !== 'string' ||
        !['browser', 'node'].includes(d['kind'] as string) ||
        typeof d['name'] !== 'string' ||
        !isNat(d['threads']) ||
        !['idle', 'working', 'paused'].includes(d['state'] as string) ||
        !isNat(d['completed']) ||
        !isNat(d['failed']) ||
        !isTime(d['connectedAt']) ||
        !isTime(d['lastSeenAt']),
    );
    return bad.length === 0 ? [] : [`GET /api/devices lists devices off contract: ${JSON.stringify(bad).slice(0, 300)}`];
  }
  if (method === 'GET' && route === '/api/stats') {
    const ok = isRecord(b) && ['devices', 'threads', 'completed', 'queued', 'running'].every((k) => isNat(b[k])) && typeof b['subtasksPerSecond'] === 'number';
    return ok ? [] : [`GET /api/stats answered ${text.slice(0, 300)}`];
  }
  return [];
}

async function runHttpCase(c: HttpCase): Promise<void> {
  const violations: string[] = [];
  const logsBefore = hub.logs.length;
  const path = renderTarget(c);
  const auth = renderAuth(c.auth);
  const headers: Record<string, string> = {};
  if (auth !== null) headers['Authorization'] = auth;
  if (c.contentType !== null) headers['Content-Type'] = c.contentType;
  if (c.accept !== null) headers['Accept'] = c.accept;
  const payload = renderBody(c.body);
  const what = `${c.method} ${path.slice(0, 200)}`;
  let answer: HttpAnswer | undefined;
  try {
    answer = await send(c.method, path, headers, payload, c.chunked);
  } catch (err) {
    violations.push(`${what}: no answer: ${(err as Error).message}`);
  }
  if (answer) {
    const { status } = answer;
    count(`http ${status}`);
    const text = answer.body.toString('utf8');
    const route = routedPath(path);
    const api = route !== null && /^\/api(?:\/|$)/.test(route);
    // @hono/node-server refuses a request target with a backslash in its path before the app sees it.
    const adapterRefusal = status === 400 && text === '' && /^[^?]*\\/.test(path);
    if (!CONTRACT_STATUSES.has(status)) violations.push(`${what} answered ${status}: ${text.slice(0, 500)}`);
    else if (api && !adapterRefusal) {
      if (!authorizes(auth) && status !== 401) violations.push(`${what} with Authorization ${JSON.stringify(auth)} answered ${status}, not 401`);
      if (status >= 400 && c.method !== 'HEAD') violations.push(...errorBodyProblems(status, text).map((p) => `${what}: ${p}`));
      if (status === 429 && answer.headers['retry-after'] === undefined) violations.push(`${what}: a 429 without Retry-After`);
      if (status === 204 && text !== '') violations.push(`${what}: a 204 with a body`);
      if (status === 201) {
        if (c.method === 'POST' && route === '/api/jobs' && payload !== null) {
          count('http job created');
          let created: unknown;
          try {
            created = JSON.parse(text);
          } catch {
            created = text;
          }
          await checkCreated(payload.toString('utf8'), created, violations);
        } else violations.push(`${what} answered 201`);
      }
      if (status === 200 && c.method !== 'HEAD' && route !== null) violations.push(...okBodyProblems(c.method, route, text, c.accept, answer.headers['content-type']).map((p) => `${what}: ${p}`));
    }
  }
  await expectHealthy(violations, logsBefore);
  fail(violations);
}

// ---- Engine.IO long-polling ------------------------------------------------------------------------

/** The same hostile packets over the HTTP long-polling transport, several to a POST, some binary (`b` + base64). */
interface PollingCase {
  join: boolean;
  posts: Array<{ packets: Piece[][]; contentType: string | null }>;
}

const pollingPacket: fc.Arbitrary<Piece[]> = fc.oneof(
  { weight: 4, arbitrary: textFrame },
  { weight: 3, arbitrary: wellFormedEvent },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b): Piece[] => ['b', Buffer.from(b).toString('base64')]) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20, unit: 'binary' }).map((t): Piece[] => ['b', t]) },
);

const pollingCase: fc.Arbitrary<PollingCase> = fc.record({
  join: fc.boolean(),
  posts: fc.array(
    fc.record({
      packets: fc.array(pollingPacket, { minLength: 1, maxLength: 4 }),
      contentType: fc.option(fc.constantFrom('text/plain;charset=UTF-8', 'application/octet-stream', 'application/json', ''), { nil: null }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
});

async function runPollingCase(c: PollingCase): Promise<void> {
  const violations: string[] = [];
  const logsBefore = hub.logs.length;
  const base = '/socket.io/?EIO=4&transport=polling';
  const open = await send('GET', base, {}, null, false);
  const sid = /"sid":"([^"]+)"/.exec(open.body.toString('utf8'))?.[1];
  if (open.status !== 200 || sid === undefined) {
    violations.push(`the polling handshake answered ${open.status} ${open.body.toString('utf8').slice(0, 200)}`);
  } else {
    const path = `${base}&sid=${encodeURIComponent(sid)}`;
    const post = async (payload: string, contentType: string | null): Promise<number> => {
      const headers: Record<string, string> = contentType === null ? {} : { 'Content-Type': contentType };
      const res = await send('POST', path, headers, Buffer.from(payload, 'utf8'), false);
      count(`polling ${res.status}`);
      if (res.status >= 500) violations.push(`POST ${JSON.stringify(payload.slice(0, 300))} on the polling transport answered ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
      return res.status;
    };
    if (c.join) await post(`40/device,${JSON.stringify(deviceAuth('fuzz_polling_device', 1))}`, null);
    for (const p of c.posts) {
      const packets = p.packets.map(render).filter((packet) => !wouldLease(packet));
      if (packets.length === 0) continue;
      if ((await post(packets.join('\x1e'), p.contentType)) !== 200) break;
    }
    await post('1', null); // close: the session must not linger until its ping timeout
  }
  await probeDeviceSocket(violations);
  await expectFleetAndRealJobIntact(violations);
  await expectHealthy(violations, logsBefore);
  fail(violations);
}

// ---- raw HTTP bytes -----------------------------------------------------------------------------

const rawRequest: fc.Arbitrary<Piece[]> = fc.oneof(
  fc
    .tuple(
      fc.oneof(fc.constantFrom('GET', 'POST', 'DELETE', 'get', 'FOO', 'G\u00c9T', '', ' ', 'CONNECT', 'PRI'), fc.string({ maxLength: 8 })),
      fc.oneof(
        fc.constantFrom('/api/jobs', '/healthz', '*', 'http://evil.example/api/jobs', 'http://[::1/api', '', '/api/jobs/../../..', '/api\\jobs', '/%', '/api/jobs?offset=-1', '/socket.io/?EIO=4&transport=polling'),
        fc.string({ maxLength: 20, unit: 'binary' }),
      ),
      fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1x', '', 'http/1.1'),
      fc.array(
        fc.oneof(
          fc.constantFrom(
            'Host: 127.0.0.1',
            'Host: a b',
            'Host:',
            'Host: [::1',
            'Content-Length: 5',
            'Content-Length: -1',
            'Content-Length: 99999999999999999999',
            'Content-Length: 3\r\nContent-Length: 4',
            'Transfer-Encoding: chunked',
            'Transfer-Encoding: chunked, identity',
            `Authorization: Bearer ${TOKEN}`,
            'Content-Type: application/json',
            'Connection: close',
            'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
            'Expect: 100-continue',
            'no colon here',
            ' leading: space',
            'X: \u0000',
          ),
          fc.string({ maxLength: 30, unit: 'binary' }),
        ),
        { maxLength: 5 },
      ),
      fc.constantFrom('\r\n', '\n', '\r'),
      fc.oneof(fc.constantFrom('', '{"code":"(n) => n","inputs":[1]}', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\nbad chunk\r\n', '\u0081\u0002garbage'), fc.string({ maxLength: 40, unit: 'binary' })),
    )
    .map(([method, tgt, version, hdrs, eol, payload]): Piece[] => [`${method} ${tgt} ${version}`, eol, ...hdrs.flatMap((h): Piece[] => [h, eol]), eol, payload]),
  fc.uint8Array({ maxLength: 200 }).map((bytes): Piece[] => [Buffer.from(bytes).toString('latin1')]),
  fc.integer({ min: 10_000, max: 80_000 }).map((n): Piece[] => ['GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ', { repeat: 'a', times: n }, '\r\n\r\n']),
);

/** Sends raw bytes; resolves with the status of the first response (or null) once the hub answered or went quiet. */
function sendRaw(bytes: string): Promise<number | null> {
  const { port } = new URL(hub.url);
  return new Promise((ok) => {
    const sock = tcpConnect({ host: '127.0.0.1', port: Number(port) });
    let got = '';
    let timer = setTimeout(() => finish(), 300);
    const finish = (): void => {
      clearTimeout(timer);
      sock.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      ok(m ? Number(m[1]) : null);
    };
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => finish(), 50);
    });
    sock.on('end', finish);
    sock.on('error', finish);
    sock.write(Buffer.from(bytes, 'latin1'));
  });
}

// ---- the tests ------------------------------------------------------------------------------------

describe(`hostile clients (fast-check seed ${SEED})`, () => {
  it(
    'survives the same hostile packets over the Engine.IO long-polling transport',
    async () => {
      progressLog.push(`real job at the start: ${await realProgress()}`);
      await fuzz('long-polling packets', pollingCase, POLLING_RUNS, runPollingCase);
      progressLog.push(`real job after polling fuzz: ${await realProgress()}`);
      const violations: string[] = [];
      await expectHealthy(violations, 0);
      fail(violations);
    },
    PHASE_TIMEOUT_MS,
  );

  it(
    'survives random and malformed Engine.IO/Socket.IO frames, handshakes and hostile leases on raw WebSockets',
    async () => {
      await fuzz('socket frames', session, SOCKET_RUNS, runSession);
      progressLog.push(`real job after socket fuzz: ${await realProgress()}`);
      const violations: string[] = [];
      await expectHealthy(violations, 0);
      fail(violations);
    },
    PHASE_TIMEOUT_MS,
  );

  it(
    'answers random HTTP requests at every route with a contract status and error body, never 500',
    async () => {
      await fuzz('http requests', httpCase, HTTP_RUNS, runHttpCase);
      progressLog.push(`real job after HTTP fuzz: ${await realProgress()}`);
      const violations: string[] = [];
      await expectHealthy(violations, 0);
      fail(violations);
    },
    PHASE_TIMEOUT_MS,
  );

  it(
    'survives malformed raw HTTP bytes',
    async () => {
      await fuzz('raw http bytes', rawRequest, RAW_HTTP_RUNS, async (pieces) => {
        const violations: string[] = [];
        const logsBefore = hub.logs.length;
        const bytes = render(pieces);
        const status = await sendRaw(bytes);
        count(`raw ${status ?? 'no answer'}`);
        if (status !== null && status >= 500 && status !== 503) violations.push(`raw request ${JSON.stringify(bytes.slice(0, 300))} answered ${status}`);
        await expectHealthy(violations, logsBefore);
        fail(violations);
      });
      const violations: string[] = [];
      await expectHealthy(violations, 0);
      fail(violations);
    },
    PHASE_TIMEOUT_MS,
  );

  it('kept serving real work: the job computed during the attack completes with the exact sum', async () => {
    const job = await waitFor(
      async () => {
        const res = await hub.api<Job>('GET', `/api/jobs/${realJobId}`);
        if (res.body.status === 'failed' || res.body.status === 'cancelled') return res.body;
        return res.body.status === 'completed' ? res.body : undefined;
      },
      30_000,
      'the real job to finish',
    );
    progressLog.push(
      `real job at the end: ${job.status} ${job.progress.completed}/${job.progress.total}, ran ${Date.parse(job.finishedAt ?? '') - Date.parse(job.createdAt)} ms`,
    );
    expect(job.error, `seed ${SEED}`).toBeUndefined();
    expect(job.status, `seed ${SEED}`).toBe('completed');
    expect(job.result, `seed ${SEED}`).toBe(REAL_SUM);
    expect(job.progress, `seed ${SEED}`).toEqual({ total: REAL_TOTAL, completed: REAL_TOTAL, failed: 0 });
    for (const d of devices) expect(d.socket.connected, `seed ${SEED}: an honest device lost its connection`).toBe(true);
    const violations: string[] = [];
    await expectHealthy(violations, 0);
    fail(violations);
  }, 40_000);
});
