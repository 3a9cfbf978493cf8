// The volunteer page: asks for consent (Start), then shows what this device is doing for the hub.
import { CPU_LIMITS, type HeldJob, type VolunteerSnapshot } from './volunteer-session.ts';
import { MAX_PAGE_THREADS } from './volunteer-options.ts';
import { useVolunteerSession } from './useVolunteerSession.ts';
import { BATTERY_FLOORS } from './device-care.ts';
import { formatCpuTime } from './donation-ledger.ts';

interface Props {
  threads: number;
  autostart: boolean;
  joinToken?: string | undefined;
  /** Several hubs of one network (`?hubs=`). */
  hubs?: string[] | undefined;
  /** Ease off under CPU pressure (`?pressure=off` does not). */
  watchPressure?: boolean;
}

const phaseLabel: Record<VolunteerSnapshot['phase'], string> = {
  stopped: 'disconnected',
  connecting: 'connecting',
  connected: 'connected',
  disconnected: 'disconnected',
};

export function VolunteerPage({ threads, autostart, joinToken, hubs, watchPressure = true }: Props) {
  const controls = useVolunteerSession(threads, autostart, joinToken, hubs, watchPressure);
  const { snapshot, start, pause, resume } = controls;
  const started = snapshot.phase !== 'stopped';
  const maxThreads = Math.min(MAX_PAGE_THREADS, Math.max(navigator.hardwareConcurrency || 4, snapshot.threads));

  return (
    <main className="volunteer">
      <h1>Edgeswarm</h1>
      <p className="intro">
        This page lends your device&rsquo;s spare computing power to the Edgeswarm hub: it runs small JavaScript
        tasks in the background while this tab stays open.
      </p>

      {!started && (
        <div className="consent">
          <button type="button" className="primary" data-testid="start-button" onClick={start}>
            Start
          </button>
          <p className="hint">
            Nothing runs until you press Start. It will use {threads} {threads === 1 ? 'thread' : 'threads'}; close the
            tab or press Pause to stop.
          </p>
        </div>
      )}

      <dl className="status-grid">
        <div>
          <dt>Hub</dt>
          <dd>
            <span className={`dot dot-${snapshot.phase}`} aria-hidden="true" />
            <span data-testid="connection-status" data-state={snapshot.phase}>
              {phaseLabel[snapshot.phase]}
            </span>
          </dd>
        </div>
        <div>
          <dt>Threads</dt>
          <dd data-testid="threads">{snapshot.threads}</dd>
        </div>
        <div>
          <dt>Subtasks done here</dt>
          <dd data-testid="done-count">{snapshot.done}</dd>
        </div>
        <div>
          <dt>Failed runs</dt>
          <dd data-testid="failed-count">{snapshot.failed}</dd>
        </div>
        <div className="wide">
          <dt>Current job</dt>
          <dd data-testid="current-job">{snapshot.jobs.length > 0 ? snapshot.jobs.map(describeJob).join('; ') : '—'}</dd>
        </div>
      </dl>

      {snapshot.running > 0 && (
        <p className="working-indicator" data-testid="working-indicator" role="status">
          <span className="dot dot-connected" aria-hidden="true" /> Running job code on {snapshot.running} of {snapshot.threads}{' '}
          {snapshot.threads === 1 ? 'thread' : 'threads'}
        </p>
      )}

      <p className="status-text" data-testid="status-text" role="status">
        {snapshot.statusText}
      </p>

      {started && (
        <button
          type="button"
          data-testid="pause-button"
          onClick={snapshot.pausedBy.includes('user') ? resume : pause}
          aria-pressed={snapshot.pausedBy.includes('user')}
        >
          {snapshot.pausedBy.includes('user') ? 'Resume' : 'Pause'}
        </button>
      )}

      {snapshot.donation && (
        <dl className="status-grid donated" data-testid="donated">
          <div>
            <dt>CPU time given this session</dt>
            <dd data-testid="donated-session" data-ms={Math.round(snapshot.donation.sessionMs)}>
              {formatCpuTime(snapshot.donation.sessionMs)}, {snapshot.donation.sessionJobs} {snapshot.donation.sessionJobs === 1 ? 'job' : 'jobs'} helped
            </dd>
          </div>
          <div>
            <dt>In total on this browser</dt>
            <dd data-testid="donated-total" data-ms={Math.round(snapshot.donation.totalMs)}>
              {formatCpuTime(snapshot.donation.totalMs)}, {snapshot.donation.totalJobs} {snapshot.donation.totalJobs === 1 ? 'job' : 'jobs'} helped
            </dd>
          </div>
        </dl>
      )}

      <fieldset className="controls">
        <legend>Your limits</legend>
        <label>
          Threads{' '}
          <NumberSelect
            testId="threads-select"
            value={snapshot.threads}
            options={Array.from({ length: maxThreads }, (_, i) => i + 1)}
            label={String}
            onChange={controls.setThreads}
          />
        </label>
        <label>
          CPU limit{' '}
          <NumberSelect testId="cpu-limit" value={snapshot.cpuLimit} options={CPU_LIMITS} label={(p) => `${p}%`} onChange={controls.setCpuLimit} />
        </label>
        <label>
          <input
            type="checkbox"
            data-testid="pause-when-hidden"
            checked={controls.pauseWhenHidden}
            onChange={(e) => controls.setPauseWhenHidden(e.target.checked)}
          />{' '}
          Pause while this tab is hidden
        </label>
        {controls.storedData && (
          <p className="stored-data" data-testid="stored-data">
            Job data kept in this browser:{' '}
            <span data-testid="stored-data-bytes" data-bytes={controls.storedData.bytes}>
              {formatBytes(controls.storedData.bytes)}
            </span>{' '}
            of {formatBytes(controls.storedData.budget)} ({controls.storedData.blobs} {controls.storedData.blobs === 1 ? 'file' : 'files'}){' '}
            <button type="button" data-testid="clear-stored-data" onClick={controls.clearStoredData} disabled={controls.storedData.blobs === 0}>
              Clear
            </button>
          </p>
        )}
        {controls.batteryFloor !== null && (
          <label>
            Pause when the battery is below{' '}
            <NumberSelect
              testId="battery-floor"
              value={controls.batteryFloor}
              options={BATTERY_FLOORS}
              label={(p) => (p === 0 ? 'never' : `${p}%`)}
              onChange={controls.setBatteryFloor}
            />{' '}
            (when not charging)
          </label>
        )}
        {controls.onlyWhileCharging !== null && (
          <label>
            <input
              type="checkbox"
              data-testid="only-while-charging"
              checked={controls.onlyWhileCharging}
              onChange={(e) => controls.setOnlyWhileCharging(e.target.checked)}
            />{' '}
            Run only while charging
          </label>
        )}
      </fieldset>
    </main>
  );
}

/** A select of numbers (`options`), each shown as `label` gives it; `onChange` gets one of `options`. */
function NumberSelect<T extends number>(props: {
  testId: string;
  value: T;
  options: readonly T[];
  label: (option: T) => string;
  onChange: (option: T) => void;
}) {
  const { testId, value, options, label, onChange } = props;
  return (
    <select
      data-testid={testId}
      value={value}
      onChange={(e) => {
        const picked = options.find((option) => option === Number(e.target.value));
        if (picked !== undefined) onChange(picked);
      }}
    >
      {options.map((option) => (
        <option key={option} value={option}>
          {label(option)}
        </option>
      ))}
    </select>
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes === 0 ? 0 : 1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function describeJob(job: HeldJob): string {
  return `${job.name} (${job.id}), submitted by ${job.owner ?? 'the hub\u2019s operator'}`;
}
