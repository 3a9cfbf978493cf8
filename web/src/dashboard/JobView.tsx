// One job in detail: status, progress, reduced result or error, the first results, a JSON download and the image view.
import { useState } from 'react';
import type { Job } from '@edgeswarm/shared';
import { fetchAllResults, type HubApi } from './api-client.ts';
import { formatAgo, formatCount, previewJson } from './format.ts';
import { JobImage } from './JobImage.tsx';
import { FIRST_RESULTS, useJobDetails } from './useJobDetails.ts';

interface Props {
  api: HubApi;
  id: string;
  feedJob: Job | undefined;
  onClose(): void;
}

function saveJson(filename: string, value: unknown): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(value)], { type: 'application/json' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function JobView({ api, id, feedJob, onClose }: Props) {
  const { job, results, error } = useJobDetails(api, id, feedJob);
  const [download, setDownload] = useState<string | null>(null);

  const downloadAll = async () => {
    setDownload('Downloading…');
    try {
      const all = await fetchAllResults(api, id, undefined, (loaded, total) =>
        setDownload(`Downloading… ${formatCount(loaded)} of ${formatCount(total)}`),
      );
      saveJson(`results-${id}.json`, all);
      setDownload(null);
    } catch (err) {
      setDownload(`Download failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const missing = new Set(results?.missing ?? []);
  const isImage = job?.meta['view'] === 'image';

  return (
    <section className="panel job-view" data-testid="job-view" data-job-id={id} aria-label="Job details">
      <div className="job-view-head">
        <h2>{job?.name ?? 'Job'}</h2>
        <button type="button" onClick={onClose} data-testid="close-job" aria-label="Close the job view">
          Close
        </button>
      </div>
      <p className="mono muted">{id}</p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {job && (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <span className={`badge status-${job.status}`} data-testid="job-status">
                {job.status}
              </span>
            </dd>
            <dt>Progress</dt>
            <dd>
              <progress max={Math.max(job.progress.total, 1)} value={job.progress.completed + job.progress.failed} />{' '}
              <span data-testid="job-progress">
                {formatCount(job.progress.completed)} / {formatCount(job.progress.total)}
              </span>
              {job.progress.failed > 0 && <span className="error"> ({formatCount(job.progress.failed)} failed)</span>}
            </dd>
            <dt>Reduce</dt>
            <dd>{job.reduce}</dd>
            {job.reduce !== 'collect' && job.result !== undefined && (
              <>
                <dt>Result</dt>
                <dd className="mono" data-testid="job-result">
                  {previewJson(job.result, 2000)}
                </dd>
              </>
            )}
            {job.error && (
              <>
                <dt>Error</dt>
                <dd className="error" data-testid="job-error">
                  <span className="mono">{job.error.code}</span> at input {job.error.input}: {job.error.message}
                </dd>
              </>
            )}
            <dt>Limits</dt>
            <dd>
              {formatCount(job.timeoutMs)} ms per run, {job.maxAttempts} attempts
            </dd>
            <dt>Times</dt>
            <dd className="muted">
              created {formatAgo(job.createdAt)}
              {job.startedAt && `, started ${formatAgo(job.startedAt)}`}
              {job.finishedAt && `, finished ${formatAgo(job.finishedAt)}`}
            </dd>
          </dl>

          {isImage && job.status === 'completed' && <JobImage api={api} job={job} />}

          <div className="job-view-actions">
            <button type="button" onClick={() => void downloadAll()} data-testid="download-results" disabled={download?.startsWith('Downloading') === true}>
              Download all results (JSON)
            </button>
            {download && <span className="muted">{download}</span>}
          </div>

          <h3>
            First results{' '}
            {results && <span className="muted small">({Math.min(FIRST_RESULTS, results.total)} of {formatCount(results.total)})</span>}
          </h3>
          <div className="table-scroll">
            <table className="results" data-testid="job-results">
              <thead>
                <tr>
                  <th className="num">Input</th>
                  <th>Result</th>
                </tr>
              </thead>
              <tbody>
                {results?.results.map((value, i) => {
                  const index = results.offset + i;
                  const pending = missing.has(i) || missing.has(index);
                  return (
                    <tr key={index} data-testid="result-row" data-pending={pending}>
                      <td className="num">{index}</td>
                      <td className={pending ? 'muted' : 'mono'}>{pending ? 'pending' : previewJson(value)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
