// The newest jobs with their progress; Cancel and Delete act through the HTTP API, a click on a row opens the job view.
import { useState } from 'react';
import { isFinished, type Job } from '@edgeswarm/shared';
import type { HubApi } from './api-client.ts';
import { ConfirmButton } from './ConfirmButton.tsx';
import { formatAgo, formatCount } from './format.ts';

interface Props {
  api: HubApi;
  jobs: readonly Job[];
  total: number;
  selectedId: string | null;
  onOpen(id: string): void;
  onDeleted(id: string): void;
}

export function JobsTable({ api, jobs, total, selectedId, onOpen, onDeleted }: Props) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<ReadonlySet<string>>(new Set());

  const act = async (id: string, action: () => Promise<unknown>, after?: () => void) => {
    setError(null);
    setBusy((b) => new Set(b).add(id));
    try {
      await action();
      after?.();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy((b) => {
        const next = new Set(b);
        next.delete(id);
        return next;
      });
    }
  };

  return (
    <section className="panel">
      <h2>
        Jobs <span className="muted small">{jobs.length < total ? `newest ${jobs.length} of ${total}` : total}</span>
      </h2>
      {error && (
        <p className="error" role="alert" data-testid="jobs-error">
          {error}
        </p>
      )}
      <div className="table-scroll">
        <table data-testid="jobs-table" className="jobs">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Progress</th>
              <th className="num">Done</th>
              <th className="num">Failed</th>
              <th>Created</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {jobs.length === 0 && (
              <tr>
                <td colSpan={7} className="muted empty">
                  No jobs yet. Submit one with the form.
                </td>
              </tr>
            )}
            {jobs.map((job) => {
              const { total: n, completed, failed } = job.progress;
              const finished = isFinished(job.status);
              return (
                <tr
                  key={job.id}
                  data-testid="job-row"
                  data-job-id={job.id}
                  data-status={job.status}
                  className={job.id === selectedId ? 'clickable selected' : 'clickable'}
                  tabIndex={0}
                  onClick={() => onOpen(job.id)}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter') onOpen(job.id);
                  }}
                >
                  <td className="job-name" title={job.id}>
                    {job.name}
                  </td>
                  <td>
                    <span className={`badge status-${job.status}`} data-testid="job-status-badge">
                      {job.status}
                    </span>
                  </td>
                  <td>
                    <progress max={Math.max(n, 1)} value={completed + failed} />
                  </td>
                  <td className="num nowrap" data-testid="job-progress-text">
                    {formatCount(completed)} / {formatCount(n)}
                  </td>
                  <td className="num">{formatCount(failed)}</td>
                  <td className="muted nowrap">{formatAgo(job.createdAt)}</td>
                  <td>
                    <div className="actions">
                      <button
                        type="button"
                        data-testid="cancel-job"
                        disabled={finished || busy.has(job.id)}
                        onClick={(e) => {
                          e.stopPropagation();
                          void act(job.id, () => api.cancelJob(job.id));
                        }}
                      >
                        Cancel
                      </button>
                      <ConfirmButton
                        label="Delete"
                        confirmLabel="Confirm delete"
                        testId="delete-job"
                        disabled={busy.has(job.id)}
                        onConfirm={() => void act(job.id, () => api.deleteJob(job.id), () => onDeleted(job.id))}
                      />
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
