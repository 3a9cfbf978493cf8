// The volunteer page: asks for consent (Start), then shows what this device is doing for the hub.
import type { VolunteerSnapshot } from './volunteer-session.ts';
import { useVolunteerSession } from './useVolunteerSession.ts';

interface Props {
  threads: number;
  autostart: boolean;
  joinToken?: string | undefined;
}

const phaseLabel: Record<VolunteerSnapshot['phase'], string> = {
  stopped: 'disconnected',
  connecting: 'connecting',
  connected: 'connected',
  disconnected: 'disconnected',
};

export function VolunteerPage({ threads, autostart, joinToken }: Props) {
  const { snapshot, start, pause, resume } = useVolunteerSession(threads, autostart, joinToken);
  const started = snapshot.phase !== 'stopped';

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
          <dd data-testid="current-job" className="mono">
            {snapshot.jobIds.length > 0 ? snapshot.jobIds.join(', ') : '—'}
          </dd>
        </div>
      </dl>

      <p className="status-text" data-testid="status-text" role="status">
        {snapshot.statusText}
      </p>

      {started && (
        <button
          type="button"
          data-testid="pause-button"
          onClick={snapshot.paused ? resume : pause}
          aria-pressed={snapshot.paused}
        >
          {snapshot.paused ? 'Resume' : 'Pause'}
        </button>
      )}
    </main>
  );
}
