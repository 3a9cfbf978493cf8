/** @edgeswarm/client: submit work to an Edgeswarm hub from Node.js. */
export { connect, range, Hub, sharedBlobs, type ConnectOptions, type Inputs, type RangeInputs, type RunOptions, type SharedValue, type UploadReport, type Work } from './hub.ts';
export { JobHandle, type JobResult, type ProgressEvent } from './job-handle.ts';
export { buildWorkModule, WORK_MODULE_EXTENSIONS, NETWORK_GLOBALS, type BuiltModule } from './build.ts';
export { inlineFunctionSource } from './inline.ts';
export { SourceMaps } from './source-maps.ts';
export { EdgeswarmError, BuildError, ValidationError, AuthError, LimitError, JobFailedError, CancelledError } from './errors.ts';
export type { Job, JobError, JobProgress, JsonValue, WorkContext } from '@edgeswarm/shared';
