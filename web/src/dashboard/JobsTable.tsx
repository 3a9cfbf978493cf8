// One page of jobs (newest first) with progress and ETA; Cancel and Delete act through the HTTP API, a click on a row opens the job view.
import { useState } from 'react';
import { isFinished, type Job } from '@edgeswarm/shared';
import type { HubApi } from './api-client.ts';
import { ConfirmButton } from './ConfirmButton.tsx';
import { formatAgo, formatCount } from './format.ts';
import { formatEta, type JobEtas } from './job-eta.ts';
import { Pager } from './Pager.tsx';

interface Props {
  api: HubApi;
  /** The page's jobs; null while a page other than the first loads. */
  jobs: readonly Job[] | null;
  total: number;
  offset: number;
  pageSize: number;
  onPage(offset: number): void;
  /** Why the page could not be loaded (pages other than the first come from the HTTP API). */
  pageError: string | null;
  etas: JobEtas;
  selectedId: string | null;
  onOpen(id: string): void;
  onDeleted(id: string): void;
  /** A job was cancelled or deleted: a page from the HTTP API is worth loading again at once. */
  onChanged(): void;
}

export function JobsTable({ api, jobs, total, offset, pageSize, onPage, pageError, etas, selectedId, onOpen, onDeleted, onChanged }: Props) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<ReadonlySet<string>>(new Set());

  const act = async (id: string, action: () => Promise<unknown>, after?: () => void) => {
    setError(null);
    setBusy((b) => new Set(b).add(id));
    try {
      await action();
      after?.();
      onChanged();
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
      <div className="panel-head">
        <h2>Jobs</h2>
        <Pager name="jobs" offset={offset} pageSize={pageSize} total={total} shown={jobs ? jobs.length : null} onPage={onPage} />
      </div>
      {pageError && (
        <p className="error" role="alert" data-testid="jobs-page-error">
          Could not load this page: {pageError}
        </p>
      )}
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
              <th className="num" title="Estimated time left, from the recent rate of progress">ETA</th>
              <th>Created</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {(jobs === null || jobs.length === 0) && (
              <tr>
                <td colSpan={8} className="muted empty">
                  {jobs === null ? 'Loading…' : offset > 0 ? 'No jobs on this page.' : 'No jobs yet. Submit one with the form.'}
                </td>
              </tr>
            )}
            {jobs?.map((job) => {
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
                    {job.waitingForDevices === true && (
                      <span
                        className="badge waiting"
                        data-testid="job-waiting"
                        title={`Each input must run on ${job.replication} distinct devices; connect more devices`}
                      >
                        waiting for devices
                      </span>
                    )}
                  </td>
                  <td>
                    <progress max={Math.max(n, 1)} value={completed + failed} />
                  </td>
                  <td className="num nowrap" data-testid="job-progress-text">
                    {formatCount(completed)} / {formatCount(n)}
                  </td>
                  <td className="num">{formatCount(failed)}</td>
                  <td className="num nowrap muted" data-testid="job-eta">
                    {finished ? '' : formatEta(etas.secondsLeft(job))}
                  </td>
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
