// One job in detail: status, progress and ETA, reduced result or error, its time model, the first results, a streamed JSON download and the image view.
import { useCallback, useEffect, useRef, useState } from 'react';
import { isFinished, type Job } from '@edgeswarm/shared';
import type { HubApi } from './api-client.ts';
import { formatAgo, formatBytes, formatCount, previewJson, shortBlob } from './format.ts';
import { ETA_WINDOW_MS, formatEta, type JobEtas } from './job-eta.ts';
import { JobImage } from './JobImage.tsx';
import { TimeModelView } from './TimeModelView.tsx';
import { downloadAllResults } from './results-download.ts';
import { FIRST_RESULTS, useJobDetails } from './useJobDetails.ts';

interface Props {
  api: HubApi;
  id: string;
  feedJob: Job | undefined;
  etas: JobEtas;
  onClose(): void;
}

/** How often the download's progress text may change. */
const PROGRESS_EVERY_MS = 200;

function saveBlob(filename: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function JobView({ api, id, feedJob, etas, onClose }: Props) {
  const onPolled = useCallback((j: Job, atMs: number) => etas.record(atMs, [j]), [etas]);
  const { job, results, error } = useJobDetails(api, id, feedJob, onPolled);
  const [download, setDownload] = useState<string | null>(null);
  const downloading = useRef<AbortController | null>(null);
  // Closing the view (or opening another job) stops a download under way.
  useEffect(() => () => downloading.current?.abort(), []);

  const downloadAll = async (expected: number) => {
    const controller = new AbortController();
    downloading.current = controller;
    const of = ` of ${formatCount(expected)}`;
    setDownload('Downloading…');
    let shownAt = 0;
    try {
      const { blob } = await downloadAllResults(api, id, {
        expected,
        signal: controller.signal,
        onProgress: (loaded) => {
          const now = Date.now();
          if (now - shownAt < PROGRESS_EVERY_MS) return;
          shownAt = now;
          setDownload(`Downloading… ${formatCount(loaded)}${of}`);
        },
      });
      if (controller.signal.aborted) return;
      saveBlob(`results-${id}.json`, blob);
      setDownload(null);
    } catch (err) {
      if (controller.signal.aborted) return;
      setDownload(`Download failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      if (downloading.current === controller) downloading.current = null;
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
            {!isFinished(job.status) && (
              <>
                <dt>Time left</dt>
                <dd data-testid="job-view-eta" title={`Estimated from the rate of progress over the last ${ETA_WINDOW_MS / 1000} seconds`}>
                  {formatEta(etas.secondsLeft(job))}
                </dd>
              </>
            )}
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
            <dt>Code</dt>
            <dd data-testid="job-code">
              {job.bundle ? (
                <>
                  work module <span className="mono" data-testid="job-bundle" title={job.bundle.blob}>{shortBlob(job.bundle.blob)}</span> ({formatBytes(job.bundle.size)})
                </>
              ) : (
                'inline function'
              )}
            </dd>
            {job.shared && job.shared.length > 0 && (
              <>
                <dt>Shared files</dt>
                <dd>
                  <ul className="shared-files" data-testid="job-shared">
                    {job.shared.map((file) => (
                      <li key={file.name} data-testid="job-shared-file" data-name={file.name} data-size={file.size}>
                        <span className="mono">{file.name}</span> {formatBytes(file.size)} ({file.as === 'json' ? 'JSON' : 'bytes'}){' '}
                        <span className="mono muted" title={file.blob}>{shortBlob(file.blob)}</span>
                      </li>
                    ))}
                  </ul>
                </dd>
              </>
            )}
            <dt>Limits</dt>
            <dd>
              {formatCount(job.timeoutMs)} ms per run, {job.maxAttempts} attempts
            </dd>
            <dt>Verification</dt>
            <dd data-testid="job-verification">{describeVerification(job)}</dd>
            <dt>Times</dt>
            <dd className="muted">
              created {formatAgo(job.createdAt)}
              {job.startedAt && `, started ${formatAgo(job.startedAt)}`}
              {job.finishedAt && `, finished ${formatAgo(job.finishedAt)}`}
            </dd>
          </dl>

          {job.timing ? (
            <TimeModelView timing={job.timing} />
          ) : (
            <p className="muted" data-testid="time-model-none">
              The time model appears with the job’s first accepted result.
            </p>
          )}

          {isImage && job.status === 'completed' && <JobImage api={api} job={job} />}

          <div className="job-view-actions">
            <button type="button" onClick={() => void downloadAll(job.progress.total)} data-testid="download-results" disabled={download?.startsWith('Downloading') === true}>
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

/** How the job's results are checked, in words. */
function describeVerification(job: Job): string {
  if (job.verify === 'none') return 'none: every result is trusted';
  const agree = job.quorum === job.replication ? `all ${job.replication} must agree` : `${job.quorum} of ${job.replication} must agree`;
  const tolerance = job.tolerance > 0 ? `, numbers within ${job.tolerance} (relative)` : '';
  const mode =
    job.verify === 'adaptive'
      ? `adaptive: devices with a record of valid results run inputs alone, one in ten spot-checked on ${job.replication} devices (${agree})`
      : `each input on ${job.replication} distinct devices, ${agree}`;
  const waiting = job.waitingForDevices === true ? '; waiting for more devices to connect' : '';
  const rechecked = job.rechecked ? `; ${job.rechecked} inputs run again after a device was caught returning wrong results` : '';
  return mode + tolerance + waiting + rechecked;
}
