/** The JobSpec of the HTTP API: its schema, defaults and the one parser every submission goes through. */
import { z } from 'zod';
import {
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_TIMEOUT_MS,
  MAX_ATTEMPTS,
  MAX_CODE_BYTES,
  MAX_INPUTS_ARRAY,
  MAX_JSON_DEPTH,
  MAX_META_BYTES,
  MAX_NAME_CHARS,
  MAX_PRIORITY,
  MAX_REPLICATION,
  MAX_SHARED_FILES,
  MIN_PRIORITY,
  MAX_RANGE_INPUTS,
  MAX_TIMEOUT_MS,
  MIN_ATTEMPTS,
  MIN_TIMEOUT_MS,
} from './limits.ts';
import { REDUCERS, type JsonValue, type Reducer } from './job.ts';
import { rangeLength, type InputRange } from './range.ts';
import { utf8Length } from './utf8.ts';
import { findJsonShapeProblem } from './json-shape.ts';
import { SHARED_AS, SHARED_NAME, parseBlobRef, type SharedAs } from './blobs.ts';

export type JobInputs =
  | { kind: 'array'; values: JsonValue[] }
  | { kind: 'range'; range: InputRange };

/** A validated JobSpec with its defaults filled in. */
export interface JobSpec {
  name: string;
  /** The work function as a function expression (inline form); null when `bundle` names a work module. */
  code: string | null;
  /** The SHA-256 (hex) of the blob holding the work module's bundle; null for inline code. */
  bundle: string | null;
  /** Read-only files every run sees as `ctx.shared[name]` (blobs, checked to exist when the job is created). */
  shared: SharedSpec[];
  inputs: JobInputs;
  reduce: Reducer;
  timeoutMs: number;
  maxAttempts: number;
  meta: Record<string, JsonValue>;
  /** Share of devices among running jobs: weight 2^(priority/2); every job keeps some share. */
  priority: number;
  /** Result verification: `none`, `replicate` (every input on `replication` distinct devices) or `adaptive`. */
  verify: VerifyMode;
  /** Distinct devices that run each input (k); 1 unless verifying. */
  replication: number;
  /** Agreeing results needed to accept one (1..k, default k). */
  quorum: number;
  /** Relative tolerance when comparing numbers in results (0: exactly equal). */
  tolerance: number;
}

export const VERIFY_MODES = ['none', 'replicate', 'adaptive'] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];
/** Replicas per input when `verify` is set and `replication` is not. */
export const DEFAULT_REPLICATION = 2;

/** A shared file as a JobSpec names it (its size comes from the stored blob). */
export interface SharedSpec {
  name: string;
  /** SHA-256 (hex) of its blob. */
  blob: string;
  as: SharedAs;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

const utf8Bytes = utf8Length;

const intBetween = (min: number, max: number) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

const safeInt = z
  .number({ error: 'must be an integer' })
  .int({ error: 'must be an integer' })
  .refine(Number.isSafeInteger, { error: 'must be a safe integer (at most 2^53 - 1 in size)' });

const rangeSchema = z
  .strictObject({
    start: safeInt,
    end: safeInt,
    step: z
      .number({ error: 'must be a positive integer' })
      .int({ error: 'must be a positive integer' })
      .min(1, { error: 'must be a positive integer' })
      .refine(Number.isSafeInteger, { error: 'must be a safe integer' })
      .default(1),
  })
  .superRefine((r, ctx) => {
    if (!(r.step >= 1)) return; // the step's own rule already reported it
    if (r.end <= r.start) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be greater than start' });
      return;
    }
    const n = rangeLength(r);
    if (n > MAX_RANGE_INPUTS) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `holds ${n} inputs; a range may hold at most ${MAX_RANGE_INPUTS}`,
      });
    }
  });

const inputsSchema = z.unknown().transform((value, ctx): JobInputs => {
  if (value === undefined) {
    ctx.addIssue({ code: 'custom', message: 'is required' });
    return z.NEVER;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must not be empty' });
      return z.NEVER;
    }
    if (value.length > MAX_INPUTS_ARRAY) {
      ctx.addIssue({
        code: 'custom',
        message: `has ${value.length} elements; an inputs array may hold at most ${MAX_INPUTS_ARRAY}`,
      });
      return z.NEVER;
    }
    for (let i = 0; i < value.length; i++) {
      const element: unknown = value[i];
      const shape = element !== null && typeof element === 'object' ? findJsonShapeProblem(element, MAX_JSON_DEPTH) : null;
      if (shape) {
        ctx.addIssue({ code: 'custom', message: `inputs[${i}]${shape.path} ${shape.problem}`, params: { full: true } });
        return z.NEVER;
      }
    }
    return { kind: 'array', values: value as JsonValue[] };
  }
  const wrapped = z.strictObject({ range: rangeSchema }).safeParse(value, { reportInput: true });
  if (!wrapped.success) {
    if (value === null || typeof value !== 'object') {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array or {"range": {"start", "end", "step"}}' });
    } else {
      for (const issue of wrapped.error.issues) {
        const full = describeIssue({ ...issue, path: ['inputs', ...issue.path] } as z.core.$ZodIssue);
        ctx.addIssue({ code: 'custom', message: full, params: { full: true } });
      }
    }
    return z.NEVER;
  }
  return { kind: 'range', range: wrapped.data.range };
});

const metaSchema = z.unknown().transform((value, ctx): Record<string, JsonValue> => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
    return z.NEVER;
  }
  const shape = findJsonShapeProblem(value, MAX_JSON_DEPTH, true);
  if (shape) {
    ctx.addIssue({ code: 'custom', message: `meta${shape.path} ${shape.problem}`, params: { full: true } });
    return z.NEVER;
  }
  if (utf8Bytes(JSON.stringify(value)) > MAX_META_BYTES) {
    ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_META_BYTES} bytes of JSON` });
    return z.NEVER;
  }
  return value as Record<string, JsonValue>;
});

const sharedSchema = z.unknown().transform((value, ctx): SharedSpec[] => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object of NAME: "sha256:HEX" or NAME: {"blob": "sha256:HEX", "as": "bytes" | "json"}' });
    return z.NEVER;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_SHARED_FILES) {
    ctx.addIssue({ code: 'custom', message: `names ${entries.length} files; a job may share at most ${MAX_SHARED_FILES}` });
    return z.NEVER;
  }
  const files: SharedSpec[] = [];
  for (const [name, entry] of entries) {
    const field = `shared.${name}`;
    const fail = (problem: string, sub = '') => {
      ctx.addIssue({ code: 'custom', message: `${field}${sub} ${problem}`, params: { full: true } });
      return z.NEVER;
    };
    if (!SHARED_NAME.test(name)) {
      return fail('is not a valid name: use 1 to 100 letters, digits, "_", "$", "." or "-", starting with a letter, "_" or "$"');
    }
    let ref: unknown = entry;
    let as: unknown = 'bytes';
    if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) {
      const extra = Object.keys(entry).filter((k) => k !== 'blob' && k !== 'as');
      if (extra.length > 0) return fail(`has an unknown field "${extra[0]}" (only "blob" and "as")`);
      ref = (entry as { blob?: unknown }).blob;
      as = (entry as { as?: unknown }).as ?? 'bytes';
    }
    const blob = parseBlobRef(ref);
    if (blob === null) return fail('must be "sha256:HEX" (the 64 lowercase hex digits of the file\'s SHA-256) or {"blob": "sha256:HEX", "as": "bytes" | "json"}');
    if (!SHARED_AS.includes(as as SharedAs)) return fail('must be "bytes" or "json"', '.as');
    files.push({ name, blob, as: as as SharedAs });
  }
  return files;
});

const jobSpecSchema = z.strictObject({
  name: z
    .string({ error: 'must be a string' })
    .max(MAX_NAME_CHARS, { error: `must be at most ${MAX_NAME_CHARS} characters` })
    .default('job'),
  code: z
    .string({ error: 'must be a string holding a JavaScript function expression' })
    .refine((s) => s.trim().length > 0, { error: 'must not be empty' })
    .refine((s) => utf8Bytes(s) <= MAX_CODE_BYTES, { error: `must be at most ${MAX_CODE_BYTES} bytes` })
    .optional(),
  bundle: z
    .unknown()
    .transform((value, ctx): string => {
      const hex = parseBlobRef(value);
      if (hex === null) {
        ctx.addIssue({ code: 'custom', message: 'must be "sha256:" followed by the 64 lowercase hex digits of the bundle\'s SHA-256' });
        return z.NEVER;
      }
      return hex;
    })
    .optional(),
  shared: sharedSchema.default([]),
  inputs: inputsSchema,
  reduce: z.enum(REDUCERS, { error: `must be one of ${REDUCERS.map((r) => `"${r}"`).join(', ')}` }).default('collect'),
  timeoutMs: intBetween(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS).default(DEFAULT_TIMEOUT_MS),
  maxAttempts: intBetween(MIN_ATTEMPTS, MAX_ATTEMPTS).default(DEFAULT_MAX_ATTEMPTS),
  priority: intBetween(MIN_PRIORITY, MAX_PRIORITY).default(0),
  meta: metaSchema.default({}),
  verify: z.enum(VERIFY_MODES, { error: `must be one of ${VERIFY_MODES.map((m) => `"${m}"`).join(', ')}` }).optional(),
  replication: intBetween(1, MAX_REPLICATION).optional(),
  quorum: intBetween(1, MAX_REPLICATION).optional(),
  tolerance: z
    .number({ error: 'must be a number from 0 to 1' })
    .min(0, { error: 'must be a number from 0 to 1' })
    .max(1, { error: 'must be a number from 0 to 1' })
    .optional(),
});

type RawSpec = z.infer<typeof jobSpecSchema>;

/**
 * Fills the verification defaults and checks the fields against each other: `replication` alone
 * means `replicate`; `verify` alone means k = 2; `quorum` defaults to k and may not exceed it.
 */
function withVerification(raw: RawSpec): ParseResult<JobSpec> {
  const { verify: verifyField, replication: replicationField, quorum: quorumField, tolerance, ...rest } = raw;
  const verify: VerifyMode = verifyField ?? ((replicationField ?? 1) > 1 ? 'replicate' : 'none');
  if (verify === 'none') {
    if ((replicationField ?? 1) > 1) return { ok: false, message: 'replication must be 1 when verify is "none"' };
    if ((quorumField ?? 1) > 1) return { ok: false, message: 'quorum must be 1 when verify is "none"' };
  }
  const replication = replicationField ?? (verify === 'none' ? 1 : DEFAULT_REPLICATION);
  if (verify !== 'none' && replication < 2) {
    return { ok: false, message: `replication must be from 2 to 5 when verify is "${verify}" (one run checks nothing)` };
  }
  const quorum = quorumField ?? replication;
  if (quorum > replication) {
    return { ok: false, message: `quorum must be from 1 to replication (${replication}); it is ${quorum}` };
  }
  const { code, bundle, ...others } = rest;
  if (code === undefined && bundle === undefined) return { ok: false, message: 'code is required (or bundle: "sha256:HEX", a work module uploaded as a blob)' };
  if (code !== undefined && bundle !== undefined) return { ok: false, message: 'give code or bundle, not both' };
  const work = { code: code ?? null, bundle: bundle ?? null };
  return {
    ok: true,
    value: { ...(others as Omit<JobSpec, 'verify' | 'replication' | 'quorum' | 'tolerance' | 'code' | 'bundle'>), ...work, verify, replication, quorum, tolerance: tolerance ?? 0 },
  };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.join('.');
  if (issue.code === 'custom' && issue.params?.['full'] === true) return issue.message;
  if (issue.code === 'unrecognized_keys') {
    const prefix = field ? `${field}.` : '';
    return issue.keys.map((k) => `unknown field "${prefix}${k}"`).join('; ');
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${field} is required`;
  return field ? `${field} ${issue.message}` : issue.message;
}

/**
 * Parses an untrusted JobSpec. The message names the field and the rule, e.g.
 * `inputs.range.end must be greater than start` or `unknown field "colour"`.
 */
export function parseJobSpec(input: unknown): ParseResult<JobSpec> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, message: 'the job spec must be a JSON object' };
  }
  const parsed = jobSpecSchema.safeParse(input, { reportInput: true });
  if (parsed.success) return withVerification(parsed.data);
  const messages = parsed.error.issues.map(describeIssue);
  return { ok: false, message: [...new Set(messages)].join('; ') };
}

export function inputCount(inputs: JobInputs): number {
  return inputs.kind === 'array' ? inputs.values.length : rangeLength(inputs.range);
}
