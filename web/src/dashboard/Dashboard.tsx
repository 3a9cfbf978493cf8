// The logged-in dashboard: live feed (tiles, chart, jobs, devices), the submit form and the job view.
import { useCallback, useMemo, useState } from 'react';
import type { Job } from '@edgeswarm/shared';
import { createHubApi } from './api-client.ts';
import { DeviceRates } from './device-rates.ts';
import { DevicesTable } from './DevicesTable.tsx';
import { JobsTable } from './JobsTable.tsx';
import { JobView } from './JobView.tsx';
import { StatsTiles } from './StatsTiles.tsx';
import { SubmitForm } from './SubmitForm.tsx';
import { ThroughputChart } from './ThroughputChart.tsx';
import { useHubFeed } from './useHubFeed.ts';

interface Props {
  token: string;
  onUnauthorized(): void;
  onLogout(): void;
}

const NO_JOBS: Job[] = [];

export function Dashboard({ token, onUnauthorized, onLogout }: Props) {
  const api = useMemo(() => createHubApi(token, onUnauthorized), [token, onUnauthorized]);
  const feed = useHubFeed(token, onUnauthorized);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [rateTracker] = useState(() => new DeviceRates());
  const snapshot = feed.snapshot;
  const rates = useMemo(
    () => (snapshot ? rateTracker.update(feed.receivedAt, snapshot.devices) : new Map<string, number>()),
    [rateTracker, snapshot, feed.receivedAt],
  );
  const jobs = snapshot?.jobs ?? NO_JOBS;

  const open = useCallback((id: string) => {
    setSelectedId(id);
    requestAnimationFrame(() =>
      document.querySelector('[data-testid="job-view"]')?.scrollIntoView({ behavior: 'smooth', block: 'nearest' }),
    );
  }, []);
  const openSubmitted = useCallback((job: Job) => open(job.id), [open]);

  return (
    <div className="dashboard">
      <header className="topbar">
        <h1>Edgeswarm</h1>
        <span className={feed.connected ? 'feed live' : 'feed'} data-testid="feed-status" data-connected={feed.connected}>
          {feed.connected ? 'live' : (feed.problem ?? 'connecting…')}
        </span>
        <button type="button" onClick={onLogout} data-testid="logout">
          Log out
        </button>
      </header>

      <StatsTiles stats={snapshot?.stats ?? null} />
      <ThroughputChart points={snapshot?.throughput ?? []} atMs={feed.receivedAt} />

      <div className="columns">
        <SubmitForm api={api} onSubmitted={openSubmitted} />
        <div className="stack">
          <JobsTable
            api={api}
            jobs={jobs}
            total={snapshot?.jobsTotal ?? 0}
            selectedId={selectedId}
            onOpen={open}
            onDeleted={(id) => setSelectedId((s) => (s === id ? null : s))}
          />
          {selectedId && (
            <JobView
              key={selectedId}
              api={api}
              id={selectedId}
              feedJob={jobs.find((j) => j.id === selectedId)}
              onClose={() => setSelectedId(null)}
            />
          )}
        </div>
      </div>

      <DevicesTable devices={snapshot?.devices ?? []} total={snapshot?.devicesTotal ?? 0} rates={rates} />
    </div>
  );
}
