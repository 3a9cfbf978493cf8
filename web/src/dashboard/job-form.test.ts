import { describe, expect, it } from 'vitest';
import { buildJobSpec, formFromTemplate, type JobForm } from './job-form.ts';
import { SQUARES_TEMPLATE } from './job-templates.ts';

const base = (): JobForm => formFromTemplate(SQUARES_TEMPLATE);

describe('buildJobSpec', () => {
  it('sends a range with the limits and meta as numbers and JSON', () => {
    expect(buildJobSpec({ ...base(), timeoutMs: '5000', maxAttempts: '2', meta: '{"a":1}' })).toEqual({
      ok: true,
      spec: {
        name: 'squares',
        code: '(n) => n * n',
        reduce: 'collect',
        inputs: { range: { start: 0, end: 10000, step: 1 } },
        timeoutMs: 5000,
        maxAttempts: 2,
        meta: { a: 1 },
      },
    });
  });

  it('leaves blank optional fields to the hub’s defaults', () => {
    const built = buildJobSpec({ ...base(), timeoutMs: '', maxAttempts: ' ', meta: '', rangeStep: '' });
    expect(built.ok && built.spec).toEqual({
      name: 'squares',
      code: '(n) => n * n',
      reduce: 'collect',
      inputs: { range: { start: 0, end: 10000 } },
    });
  });

  it('sends a JSON array of inputs as is', () => {
    const built = buildJobSpec({ ...base(), inputsMode: 'json', inputsJson: '[1, "a", {"x": 2}]' });
    expect(built.ok && built.spec['inputs']).toEqual([1, 'a', { x: 2 }]);
  });

  it('explains JSON it cannot parse or that has the wrong shape', () => {
    expect(buildJobSpec({ ...base(), inputsMode: 'json', inputsJson: '[1,' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^Inputs is not valid JSON/),
    });
    expect(buildJobSpec({ ...base(), inputsMode: 'json', inputsJson: '{"a":1}' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/JSON array/),
    });
    expect(buildJobSpec({ ...base(), meta: '[1]' })).toMatchObject({ ok: false, message: expect.stringMatching(/^Meta/) });
    expect(buildJobSpec({ ...base(), rangeEnd: '' })).toMatchObject({ ok: false, message: 'Range end is required.' });
  });
});

describe('buildJobSpec verification fields', () => {
  it('sends nothing about verification when it is off, whatever the hidden fields hold', () => {
    const built = buildJobSpec({ ...base(), verify: 'none', replication: '3', tolerance: '0.1' });
    expect(built.ok && Object.keys(built.spec)).not.toContain('verify');
    expect(built.ok && Object.keys(built.spec)).not.toContain('replication');
  });

  it('sends the mode, and replicas and tolerance when given', () => {
    const built = buildJobSpec({ ...base(), verify: 'adaptive', replication: '3', tolerance: '1e-9' });
    expect(built.ok && built.spec).toMatchObject({ verify: 'adaptive', replication: 3, tolerance: 1e-9 });
    const defaults = buildJobSpec({ ...base(), verify: 'replicate', replication: '', tolerance: '' });
    expect(defaults.ok && defaults.spec).toMatchObject({ verify: 'replicate' });
    expect(defaults.ok && Object.keys(defaults.spec)).not.toContain('replication');
  });

  it('names a replicas field that is not a number', () => {
    expect(buildJobSpec({ ...base(), verify: 'replicate', replication: 'two' })).toEqual({ ok: false, message: 'Replicas must be a number.' });
  });
});
