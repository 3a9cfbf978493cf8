// The job submission form: templates, a CodeMirror code editor, inputs as a JSON array or a range, reducer, limits and meta.
import { Suspense, lazy, memo, useState, type FormEvent } from 'react';
import { REDUCERS, type Job } from '@edgeswarm/shared';
import type { HubApi } from './api-client.ts';
import { buildJobSpec, formFromTemplate, isReducer, isVerifyMode, type InputsMode, type JobForm } from './job-form.ts';
import { JOB_TEMPLATES, SQUARES_TEMPLATE, findTemplate } from './job-templates.ts';

interface Props {
  api: HubApi;
  onSubmitted(job: Job): void;
}

// CodeMirror is most of the dashboard's weight: it loads after the page, over a plain textarea.
const CodeEditor = lazy(() => import('./CodeEditor.tsx'));

/** Memoised: the live feed re-renders the dashboard every second, and the editor need not follow. */
export const SubmitForm = memo(function SubmitForm({ api, onSubmitted }: Props) {
  const [templateId, setTemplateId] = useState<string>(SQUARES_TEMPLATE.id);
  const [form, setForm] = useState<JobForm>(() => formFromTemplate(SQUARES_TEMPLATE));
  const [error, setError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);

  const set = <K extends keyof JobForm>(key: K, value: JobForm[K]) => setForm((f) => ({ ...f, [key]: value }));

  const chooseTemplate = (id: string) => {
    setTemplateId(id);
    const template = findTemplate(id);
    if (template) setForm((f) => formFromTemplate(template, f));
    setError(null);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const built = buildJobSpec(form);
    if (!built.ok) {
      setError(built.message);
      return;
    }
    setError(null);
    setSubmitting(true);
    try {
      onSubmitted(await api.createJob(built.spec));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <section className="panel">
      <h2>Submit a job</h2>
      <form className="submit-form" data-testid="submit-form" onSubmit={(e) => void submit(e)}>
        <label className="field">
          <span>Template</span>
          <select value={templateId} onChange={(e) => chooseTemplate(e.target.value)} data-testid="template-select">
            {JOB_TEMPLATES.map((t) => (
              <option key={t.id} value={t.id}>
                {t.label}
              </option>
            ))}
          </select>
        </label>

        <label className="field">
          <span>Name</span>
          <input value={form.name} onChange={(e) => set('name', e.target.value)} maxLength={200} data-testid="job-name" />
        </label>

        <div className="field">
          <span id="job-code-label">Code: a function expression called once per input</span>
          <div className="code-editor" data-testid="job-code">
            <Suspense
              fallback={
                <textarea
                  className="code-fallback"
                  rows={12}
                  value={form.code}
                  onChange={(e) => set('code', e.target.value)}
                  aria-labelledby="job-code-label"
                  spellCheck={false}
                />
              }
            >
              <CodeEditor value={form.code} onChange={(code) => set('code', code)} labelledBy="job-code-label" />
            </Suspense>
          </div>
        </div>

        <fieldset className="field">
          <legend>Inputs</legend>
          <select
            value={form.inputsMode}
            onChange={(e) => set('inputsMode', e.target.value as InputsMode)}
            data-testid="inputs-mode"
            aria-label="Inputs given as"
          >
            <option value="range">Range of integers</option>
            <option value="json">JSON array</option>
          </select>
          {form.inputsMode === 'json' ? (
            <textarea
              rows={4}
              value={form.inputsJson}
              onChange={(e) => set('inputsJson', e.target.value)}
              data-testid="inputs-json"
              aria-label="Inputs as a JSON array"
              spellCheck={false}
            />
          ) : (
            <div className="range-fields">
              <label>
                start <input type="number" value={form.rangeStart} onChange={(e) => set('rangeStart', e.target.value)} data-testid="range-start" />
              </label>
              <label>
                end (exclusive) <input type="number" value={form.rangeEnd} onChange={(e) => set('rangeEnd', e.target.value)} data-testid="range-end" />
              </label>
              <label>
                step <input type="number" min={1} value={form.rangeStep} onChange={(e) => set('rangeStep', e.target.value)} data-testid="range-step" />
              </label>
            </div>
          )}
        </fieldset>

        <div className="field-row">
          <label className="field">
            <span>Reduce</span>
            <select
              value={form.reduce}
              onChange={(e) => {
                if (isReducer(e.target.value)) set('reduce', e.target.value);
              }}
              data-testid="job-reduce"
            >
              {REDUCERS.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Timeout per run (ms)</span>
            <input type="number" min={100} value={form.timeoutMs} onChange={(e) => set('timeoutMs', e.target.value)} data-testid="job-timeout" />
          </label>
          <label className="field">
            <span>Attempts</span>
            <input type="number" min={1} max={20} value={form.maxAttempts} onChange={(e) => set('maxAttempts', e.target.value)} data-testid="job-attempts" />
          </label>
        </div>

        <div className="field-row">
          <label className="field">
            <span>Verify results</span>
            <select
              value={form.verify}
              onChange={(e) => {
                if (isVerifyMode(e.target.value)) set('verify', e.target.value);
              }}
              data-testid="job-verify"
              title="no: every result is trusted; replicate: every input runs on several distinct devices and a result is kept when they agree; adaptive: devices with a record of valid results run alone, spot-checked"
            >
              <option value="none">no</option>
              <option value="replicate">replicate</option>
              <option value="adaptive">adaptive</option>
            </select>
          </label>
          {form.verify !== 'none' && (
            <>
              <label className="field">
                <span>Replicas (2 to 5)</span>
                <input type="number" min={2} max={5} placeholder="2" value={form.replication} onChange={(e) => set('replication', e.target.value)} data-testid="job-replication" />
              </label>
              <label className="field">
                <span>Number tolerance</span>
                <input type="number" min={0} max={1} step="any" placeholder="0 (exact)" value={form.tolerance} onChange={(e) => set('tolerance', e.target.value)} data-testid="job-tolerance" />
              </label>
            </>
          )}
        </div>

        <label className="field">
          <span>Meta (JSON object, optional)</span>
          <textarea rows={2} value={form.meta} onChange={(e) => set('meta', e.target.value)} data-testid="job-meta" spellCheck={false} />
        </label>

        {error && (
          <p className="error" role="alert" data-testid="submit-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={submitting} data-testid="submit-job">
          {submitting ? 'Submitting…' : 'Submit job'}
        </button>
      </form>
    </section>
  );
});
