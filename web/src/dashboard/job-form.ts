// The submit form's fields and their translation into a JobSpec for POST /api/jobs (the hub does the full validation).
import { REDUCERS, VERIFY_MODES, type JsonValue, type Reducer, type VerifyMode } from '@edgeswarm/shared';
import type { JobTemplate } from './job-templates.ts';

export type InputsMode = 'json' | 'range';

/** Form fields as typed (strings), so half-typed numbers survive re-renders. */
export interface JobForm {
  name: string;
  code: string;
  inputsMode: InputsMode;
  inputsJson: string;
  rangeStart: string;
  rangeEnd: string;
  rangeStep: string;
  reduce: Reducer;
  timeoutMs: string;
  maxAttempts: string;
  meta: string;
  /** Result verification: mode, replicas per input (blank: the hub's default, 2), relative tolerance for numbers. */
  verify: VerifyMode;
  replication: string;
  tolerance: string;
}

export type BuildResult = { ok: true; spec: Record<string, JsonValue> } | { ok: false; message: string };

export const DEFAULT_TIMEOUT_FIELD = '60000';
export const DEFAULT_ATTEMPTS_FIELD = '3';

export function formFromTemplate(template: JobTemplate, previous?: JobForm): JobForm {
  return {
    name: template.name,
    code: template.code,
    inputsMode: 'range',
    inputsJson: previous?.inputsJson ?? '[1, 2, 3]',
    rangeStart: String(template.range.start),
    rangeEnd: String(template.range.end),
    rangeStep: String(template.range.step),
    reduce: template.reduce,
    timeoutMs: previous?.timeoutMs ?? DEFAULT_TIMEOUT_FIELD,
    maxAttempts: previous?.maxAttempts ?? DEFAULT_ATTEMPTS_FIELD,
    meta: JSON.stringify(template.meta),
    verify: previous?.verify ?? 'none',
    replication: previous?.replication ?? '',
    tolerance: previous?.tolerance ?? '',
  };
}

export function isVerifyMode(value: string): value is VerifyMode {
  return (VERIFY_MODES as readonly string[]).includes(value);
}

export function isReducer(value: string): value is Reducer {
  return (REDUCERS as readonly string[]).includes(value);
}

/** A number field: blank means "use the hub's default"; anything else must be a number. */
function numberField(label: string, text: string): { ok: true; value: number | undefined } | { ok: false; message: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, value: undefined };
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { ok: false, message: `${label} must be a number.` };
  return { ok: true, value };
}

function parseJson(label: string, text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: `${label} is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function buildJobSpec(form: JobForm): BuildResult {
  const spec: Record<string, JsonValue> = { name: form.name, code: form.code, reduce: form.reduce };

  if (form.inputsMode === 'json') {
    const inputs = parseJson('Inputs', form.inputsJson);
    if (!inputs.ok) return inputs;
    if (!Array.isArray(inputs.value)) return { ok: false, message: 'Inputs must be a JSON array, e.g. [1, 2, 3].' };
    spec['inputs'] = inputs.value as JsonValue[];
  } else {
    const range: Record<string, JsonValue> = {};
    for (const [key, label, text] of [
      ['start', 'Range start', form.rangeStart],
      ['end', 'Range end', form.rangeEnd],
      ['step', 'Range step', form.rangeStep],
    ] as const) {
      const field = numberField(label, text);
      if (!field.ok) return field;
      if (field.value === undefined) {
        if (key !== 'step') return { ok: false, message: `${label} is required.` };
        continue;
      }
      range[key] = field.value;
    }
    spec['inputs'] = { range };
  }

  for (const [key, label, text] of [
    ['timeoutMs', 'Timeout', form.timeoutMs],
    ['maxAttempts', 'Attempts', form.maxAttempts],
  ] as const) {
    const field = numberField(label, text);
    if (!field.ok) return field;
    if (field.value !== undefined) spec[key] = field.value;
  }

  if (form.verify !== 'none') {
    spec['verify'] = form.verify;
    for (const [key, label, text] of [
      ['replication', 'Replicas', form.replication],
      ['tolerance', 'Tolerance', form.tolerance],
    ] as const) {
      const field = numberField(label, text);
      if (!field.ok) return field;
      if (field.value !== undefined) spec[key] = field.value;
    }
  }

  if (form.meta.trim() !== '') {
    const meta = parseJson('Meta', form.meta);
    if (!meta.ok) return meta;
    if (typeof meta.value !== 'object' || meta.value === null || Array.isArray(meta.value)) {
      return { ok: false, message: 'Meta must be a JSON object, e.g. {"view": "image"}.' };
    }
    spec['meta'] = meta.value as JsonValue;
  }
  return { ok: true, spec };
}
