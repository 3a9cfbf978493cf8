// One page of connected devices: name, kind, hub, threads, state, completed and a rate derived from successive observations.
import { useState } from 'react';
import type { DeviceInfo } from '@edgeswarm/shared';
import { formatAgo, formatCount, formatRate } from './format.ts';
import { Pager } from './Pager.tsx';

interface Props {
  /** The page's devices; null while a page other than the first loads. */
  devices: readonly DeviceInfo[] | null;
  total: number;
  offset: number;
  pageSize: number;
  onPage(offset: number): void;
  /** Why the page could not be loaded (pages other than the first come from the HTTP API). */
  pageError: string | null;
  rates: ReadonlyMap<string, number>;
  /** Lifts a device's quarantine (the hub allows it to the admin token only). */
  onReleaseQuarantine?(deviceId: string): Promise<void>;
}

export function DevicesTable({ devices, total, offset, pageSize, onPage, pageError, rates, onReleaseQuarantine }: Props) {
  const [releaseError, setReleaseError] = useState<string | null>(null);
  const release = (id: string) => {
    setReleaseError(null);
    onReleaseQuarantine?.(id).catch((err: unknown) => setReleaseError(err instanceof Error ? err.message : String(err)));
  };
  return (
    <section className="panel">
      <div className="panel-head">
        <h2>Devices</h2>
        <Pager name="devices" offset={offset} pageSize={pageSize} total={total} shown={devices ? devices.length : null} onPage={onPage} />
      </div>
      {releaseError && (
        <p className="error" role="alert" data-testid="release-quarantine-error">
          Could not lift the quarantine: {releaseError}
        </p>
      )}
      {pageError && (
        <p className="error" role="alert" data-testid="devices-page-error">
          Could not load this page: {pageError}
        </p>
      )}
      <div className="table-scroll">
        <table data-testid="devices-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th title="The hub the device is connected to">Hub</th>
              <th className="num">Threads</th>
              <th>State</th>
              <th className="num">Completed</th>
              <th className="num">Failed</th>
              <th className="num" title="Results of verified jobs that agreed with the accepted result / that did not">
                Valid / invalid
              </th>
              <th className="num">Rate /s</th>
              <th>Connected</th>
            </tr>
          </thead>
          <tbody>
            {(devices === null || devices.length === 0) && (
              <tr>
                <td colSpan={10} className="muted empty">
                  {devices === null
                    ? 'Loading…'
                    : offset > 0
                      ? 'No devices on this page.'
                      : 'No device is connected. Open the volunteer page on a phone or computer to add one.'}
                </td>
              </tr>
            )}
            {devices?.map((d) => (
              <tr key={d.id} data-testid="device-row" data-device-id={d.id}>
                <td title={d.id}>{d.name || d.id}</td>
                <td>{d.kind}</td>
                <td data-testid="device-hub">{d.hub ?? ''}</td>
                <td className="num">{d.threads}</td>
                <td>
                  <span className={`badge state-${d.state}`}>{d.state}</span>
                  {d.quarantined && (
                    <>
                      <span className="badge quarantined" data-testid="device-quarantined" title="Returned a result that disagreed with the accepted one: gets no more work">
                        quarantined
                      </span>
                      {onReleaseQuarantine && (
                        <button type="button" className="link-button" data-testid="release-quarantine" onClick={() => release(d.id)} title="Let this device work again (admin token only)">
                          release
                        </button>
                      )}
                    </>
                  )}
                </td>
                <td className="num">{formatCount(d.completed)}</td>
                <td className="num">{formatCount(d.failed)}</td>
                <td className="num nowrap">
                  {formatCount(d.valid)} / {formatCount(d.invalid)}
                </td>
                <td className="num">{formatRate(rates.get(d.id) ?? 0)}</td>
                <td className="muted">{formatAgo(d.connectedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
