/** Payloads of the device and dashboard protocols, with the schemas that parse them from `unknown` at the hub's edge. */
import { z } from 'zod';
import { RUN_ERROR_CODES, type DeviceInfo, type HubStats, type Job, type JsonValue } from '../domain/job.ts';
import type { BundleRef, SharedFile } from '../domain/blobs.ts';
import { SHA256_HEX } from '../domain/blobs.ts';
import { MAX_ERROR_MESSAGE_CHARS, MAX_RESULT_BYTES, MAX_TIMEOUT_MS } from '../domain/limits.ts';

/** Longest run time or round trip a device may report: a run never outlasts the longest timeout. */
const MAX_RUN_MS = MAX_TIMEOUT_MS * 2;
import { truncate } from '../domain/text.ts';

const shortText = (max: number) => z.string().max(max);
const count = z.number().int().min(0);

/** Sent in the Socket.IO handshake `auth` by a device. */
export const deviceHelloSchema = z.object({
  protocol: z.number().int(),
  deviceId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  kind: z.enum(['browser', 'node']),
  name: shortText(100).default(''),
  threads: z.number().int().min(1).max(1024),
  /** A private pool's join token (the hub's --join-token), from the volunteer URL or the agent's flag. */
  joinToken: z.string().max(512).optional(),
});
export type DeviceHello = z.infer<typeof deviceHelloSchema>;

/** Sent in the Socket.IO handshake `auth` by the dashboard. */
export const dashboardHelloSchema = z.object({
  protocol: z.number().int(),
  token: z.string().max(512),
});
export type DashboardHello = z.infer<typeof dashboardHelloSchema>;

/** A device asks for up to `slots` inputs to run. */
export const workRequestSchema = z.object({ slots: z.number().int().min(1).max(10_000) });
export type WorkRequest = z.infer<typeof workRequestSchema>;

/** A run's time as the device measured it (ms); optional, for devices that predate the time model. */
const runMs = z.number().min(0).max(MAX_RUN_MS).optional();

export const runResultSchema = z.discriminatedUnion('ok', [
  z.object({ index: count, ok: z.literal(true), json: z.string().max(MAX_RESULT_BYTES * 4), ms: runMs }),
  z.object({
    index: count,
    ok: z.literal(false),
    ms: runMs,
    code: z.enum(RUN_ERROR_CODES),
    // Long messages are cut, not rejected: rejecting would drop the whole batch and strand its lease.
    message: z.string().max(MAX_RESULT_BYTES).transform((m) => truncate(m, MAX_ERROR_MESSAGE_CHARS)),
  }),
]);
export type RunResult = z.infer<typeof runResultSchema>;

/** A device reports the outcome of some inputs of one lease. */
export const workSubmitSchema = z.object({
  leaseId: z.string().max(100),
  results: z.array(runResultSchema).min(1).max(10_000),
  /** Mean round trip (ms) of this device's calls to the hub since its previous submit, as it measured them. */
  rttMs: z.number().min(0).max(MAX_RUN_MS).optional(),
});
export type WorkSubmit = z.infer<typeof workSubmitSchema>;

/** A device asks for one chunk (BLOB_CHUNK_BYTES) of a blob of a job it holds a lease of. */
export const blobReadSchema = z.object({
  blob: z.string().regex(SHA256_HEX),
  chunk: z.number().int().min(0).max(1_000_000),
});
export type BlobRead = z.infer<typeof blobReadSchema>;

/** One chunk of a blob, with the blob's size (so the device knows how many chunks there are). */
export interface BlobChunk {
  size: number;
  chunk: number;
  /** Binary: a Buffer from the hub, an ArrayBuffer in the browser. */
  bytes: Uint8Array | ArrayBuffer;
}

/** Heartbeat: renews the device's leases and reports what it is doing. */
export const deviceStatusSchema = z.object({
  state: z.enum(['idle', 'working', 'paused']),
  threads: z.number().int().min(1).max(1024),
});
export type DeviceStatus = z.infer<typeof deviceStatusSchema>;

export interface LeaseItem {
  index: number;
  input: JsonValue;
}

/** Work handed to a device: some inputs of one job, held while the device heartbeats. */
export interface LeaseGrant {
  leaseId: string;
  jobId: string;
  /** The job's name and who submitted it (a submitter token's name, null for the admin), for the volunteer to see. */
  jobName?: string;
  owner?: string | null;
  /** The inline function expression; '' when the job runs a work module (`bundle`). */
  code: string;
  /** The work module's bundle, to fetch with `blob:read` (once per connection) and evaluate. */
  bundle?: BundleRef;
  /** Shared files every run reads as `ctx.shared[name]`, fetched with `blob:read` too. */
  shared?: SharedFile[];
  timeoutMs: number;
  items: LeaseItem[];
}

export interface SubmitReceipt {
  /** Results stored and counted. */
  accepted: number;
  /** Results acknowledged but dropped (already done, job over, lease gone). */
  dropped: number;
}

export interface HubWelcome {
  protocol: number;
  deviceId: string;
  heartbeatMs: number;
}

export interface ThroughputPoint {
  /** Unix time in seconds. */
  t: number;
  /** Subtasks completed during that second. */
  n: number;
}

/** What the dashboard's live feed pushes, at most a few times a second. */
export interface FeedSnapshot {
  stats: HubStats;
  throughput: ThroughputPoint[];
  devices: DeviceInfo[];
  devicesTotal: number;
  jobs: Job[];
  jobsTotal: number;
}
