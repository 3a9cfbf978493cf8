// The logged-in dashboard: live feed (tiles, chart, jobs, devices), paged tables, the submit form and the job view.
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { DeviceInfo, Job } from '@edgeswarm/shared';
import { createHubApi } from './api-client.ts';
import { DeviceRates } from './device-rates.ts';
import { DevicesTable } from './DevicesTable.tsx';
import { JoinByQr } from './JoinByQr.tsx';
import { JobEtas } from './job-eta.ts';
import { JobsTable } from './JobsTable.tsx';
import { JobView } from './JobView.tsx';
import { DEVICES_PAGE_SIZE, JOBS_PAGE_SIZE, lastPageOffset, type LoadedPage } from './paging.ts';
import { StatsTiles } from './StatsTiles.tsx';
import { SubmitForm } from './SubmitForm.tsx';
import { ThroughputChart } from './ThroughputChart.tsx';
import { useHubFeed } from './useHubFeed.ts';
import { usePagedList, type PagedList } from './usePagedList.ts';

interface Props {
  token: string;
  onUnauthorized(): void;
  onLogout(): void;
}

const NO_JOBS: Job[] = [];
const NO_DEVICES: DeviceInfo[] = [];
const NO_RATES: ReadonlyMap<string, number> = new Map();

/** Back to the last page with rows when the shown page emptied (jobs deleted, devices gone). */
function useStayInRange(page: PagedList<unknown> | null, offset: number, pageSize: number, setOffset: (offset: number) => void): void {
  const total = page?.total ?? null;
  useEffect(() => {
    if (total !== null && offset > 0 && offset >= total) setOffset(lastPageOffset(total, pageSize));
  }, [total, offset, pageSize, setOffset]);
}

export function Dashboard({ token, onUnauthorized, onLogout }: Props) {
  const api = useMemo(() => createHubApi(token, onUnauthorized), [token, onUnauthorized]);
  const feed = useHubFeed(token, onUnauthorized);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const snapshot = feed.snapshot;

  // Page 1 of each table is the feed's; other pages come from the HTTP API, refreshed while shown.
  const [jobsOffset, setJobsOffset] = useState(0);
  const [devicesOffset, setDevicesOffset] = useState(0);
  const loadJobs = useCallback(
    (offset: number, limit: number): Promise<LoadedPage<Job>> => api.listJobs(offset, limit).then((r) => ({ total: r.total, items: r.jobs })),
    [api],
  );
  const loadDevices = useCallback(
    (offset: number, limit: number): Promise<LoadedPage<DeviceInfo>> =>
      api.listDevices(offset, limit).then((r) => ({ total: r.total, items: r.devices })),
    [api],
  );
  const [jobsChanged, setJobsChanged] = useState(0);
  const jobsPage = usePagedList(loadJobs, jobsOffset, JOBS_PAGE_SIZE, jobsChanged);
  const devicesPage = usePagedList(loadDevices, devicesOffset, DEVICES_PAGE_SIZE);
  useStayInRange(jobsPage, jobsOffset, JOBS_PAGE_SIZE, setJobsOffset);
  useStayInRange(devicesPage, devicesOffset, DEVICES_PAGE_SIZE, setDevicesOffset);

  const feedJobs = snapshot?.jobs ?? NO_JOBS;
  const pageJobs = jobsPage?.items ?? null;

  // Rates and ETAs learn from every observation: each snapshot, each page answer, each poll of the job view.
  // Recording the same observation twice is harmless, so a re-run of these memos does no damage.
  const [etas] = useState(() => new JobEtas());
  useMemo(() => {
    if (snapshot) etas.record(feed.receivedAt, snapshot.jobs);
  }, [etas, snapshot, feed.receivedAt]);
  useMemo(() => {
    if (jobsPage?.items) etas.record(jobsPage.receivedAt, jobsPage.items);
  }, [etas, jobsPage]);

  const [feedRates] = useState(() => new DeviceRates());
  const [pageRates] = useState(() => new DeviceRates());
  const rates = useMemo(
    () => (snapshot ? feedRates.update(feed.receivedAt, snapshot.devices) : NO_RATES),
    [feedRates, snapshot, feed.receivedAt],
  );
  const pageDeviceRates = useMemo(
    () => (devicesPage?.items ? pageRates.update(devicesPage.receivedAt, devicesPage.items) : NO_RATES),
    [pageRates, devicesPage],
  );

  const open = useCallback((id: string) => {
    setSelectedId(id);
    requestAnimationFrame(() =>
      document.querySelector('[data-testid="job-view"]')?.scrollIntoView({ behavior: 'smooth', block: 'nearest' }),
    );
  }, []);
  const openSubmitted = useCallback(
    (job: Job) => {
      setJobsOffset(0); // the new job is the newest: on page 1
      open(job.id);
    },
    [open],
  );

  const shownJobs = jobsPage ? pageJobs : feedJobs;
  const selectedJob = selectedId ? (feedJobs.find((j) => j.id === selectedId) ?? pageJobs?.find((j) => j.id === selectedId)) : undefined;

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
            jobs={shownJobs}
            total={jobsPage?.total ?? snapshot?.jobsTotal ?? 0}
            offset={jobsOffset}
            pageSize={JOBS_PAGE_SIZE}
            onPage={setJobsOffset}
            pageError={jobsPage?.error ?? null}
            etas={etas}
            selectedId={selectedId}
            onOpen={open}
            onDeleted={(id) => setSelectedId((s) => (s === id ? null : s))}
            onChanged={() => setJobsChanged((n) => n + 1)}
          />
          {selectedId && (
            <JobView key={selectedId} api={api} id={selectedId} feedJob={selectedJob} etas={etas} onClose={() => setSelectedId(null)} />
          )}
        </div>
      </div>

      <DevicesTable
        devices={devicesPage ? devicesPage.items : (snapshot?.devices ?? NO_DEVICES)}
        total={devicesPage?.total ?? snapshot?.devicesTotal ?? 0}
        offset={devicesOffset}
        pageSize={DEVICES_PAGE_SIZE}
        onPage={setDevicesOffset}
        pageError={devicesPage?.error ?? null}
        rates={devicesPage ? pageDeviceRates : rates}
        onReleaseQuarantine={(id) => api.releaseQuarantine(id)}
      />

      <JoinByQr api={api} />
    </div>
  );
}
