/** Public surface of @edgeswarm/shared: protocol, domain vocabulary and the job-code runtime. */
export * as limits from './domain/limits.ts';
export {
  JOB_STATUSES,
  REDUCERS,
  JOB_ERROR_CODES,
  RUN_ERROR_CODES,
  isFinished,
  type Job,
  type JobStatus,
  type JobError,
  type JobErrorCode,
  type JobProgress,
  type RunErrorCode,
  type Reducer,
  type JsonValue,
  type DeviceInfo,
  type DeviceKind,
  type DeviceState,
  type HubStats,
} from './domain/job.ts';
export {
  timeModel,
  timingAdvice,
  formatMs,
  MAX_TIMING_DEVICES,
  type JobTiming,
  type DeviceTimingStats,
  type DeviceShare,
  type TimeModelInput,
} from './domain/time-model.ts';
export {
  parseJobSpec,
  inputCount,
  VERIFY_MODES,
  DEFAULT_REPLICATION,
  type JobSpec,
  type SharedSpec,
  type JobInputs,
  type ParseResult,
  type VerifyMode,
} from './domain/job-spec.ts';
export {
  SHA256_HEX,
  BLOB_REF,
  SHARED_NAME,
  SHARED_AS,
  BUNDLE_POSITION,
  blobRef,
  parseBlobRef,
  bundleFileName,
  type SharedAs,
  type SharedFile,
  type BundleRef,
} from './domain/blobs.ts';
export { resultsAgree, agreeingGroups, numbersAgree } from './domain/agreement.ts';
export { rangeAt, rangeLength, type InputRange } from './domain/range.ts';
export {
  PROTOCOL_VERSION,
  CONNECT_REFUSALS,
  DEVICE_NAMESPACE,
  DASHBOARD_NAMESPACE,
  HEARTBEAT_INTERVAL_MS,
  LEASE_TTL_MS,
  type ConnectRefusal,
} from './protocol/version.ts';
export { ackOk, ackError, type Ack, type WireError } from './protocol/ack.ts';
export {
  deviceHelloSchema,
  dashboardHelloSchema,
  workRequestSchema,
  workSubmitSchema,
  deviceStatusSchema,
  runResultSchema,
  blobReadSchema,
  type BlobRead,
  type BlobChunk,
  type DeviceHello,
  type DashboardHello,
  type WorkRequest,
  type WorkSubmit,
  type RunResult,
  type DeviceStatus,
  type LeaseGrant,
  type LeaseItem,
  type SubmitReceipt,
  type HubWelcome,
  type ThroughputPoint,
  type FeedSnapshot,
} from './protocol/messages.ts';
export type {
  DeviceToHubEvents,
  HubToDeviceEvents,
  DashboardToHubEvents,
  HubToDashboardEvents,
} from './protocol/events.ts';
export {
  compileJobFunction,
  toResultJson,
  runJobFunction,
  errorText,
  workErrorText,
  bundleFrames,
  type JobFunction,
  type RunOutcome,
} from './runtime/job-function.ts';
export {
  compileWork,
  compileBundle,
  defaultExport,
  deepFreeze,
  type WorkSource,
  type SharedInput,
  type WorkContext,
  type LoadedWork,
} from './runtime/work-source.ts';
export { SECURITY_HEADERS, SANDBOX_CSP, SANDBOX_HEADERS, PAGE_CSP, pageCsp, sandboxCsp, sandboxCspFor } from './http/security-headers.ts';
export { ResultOutbox, type OutboxOptions } from './client/result-outbox.ts';
export {
  FLUSH_DELAY_MS,
  IDLE_POLL_MS,
  MAX_BATCH_CHARS,
  REFUSED_RETRY_MS,
  REQUEST_TIMEOUT_MS,
  SUBMIT_TIMEOUT_MS,
} from './client/device-timing.ts';
export { RunPace, TARGET_HELD_MS, LONG_RUN_MS } from './client/run-pace.ts';
export { LeaseBatches, toRunResult, type HeldLease } from './client/lease-batches.ts';
export { HubLink, countAccepted, type DeviceLinkSocket, type HubLinkHandlers, type HubLinkOptions } from './client/hub-link.ts';
export { FailoverSocket, type FailoverOptions, type SocketFactory } from './client/failover-socket.ts';
export {
  BlobCache,
  BlobFetchError,
  JobWork,
  needsBlobs,
  afterPrepareFailure,
  type BlobCacheOptions,
  type BlobChunkReader,
  type PersistentBlobs,
} from './client/job-work.ts';
export { truncate } from './domain/text.ts';
