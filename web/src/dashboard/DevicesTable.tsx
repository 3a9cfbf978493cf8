// Connected devices: name, kind, threads, state, completed and a rate derived from successive snapshots.
import type { DeviceInfo } from '@edgeswarm/shared';
import { formatAgo, formatCount, formatRate } from './format.ts';

interface Props {
  devices: readonly DeviceInfo[];
  total: number;
  rates: ReadonlyMap<string, number>;
}

export function DevicesTable({ devices, total, rates }: Props) {
  return (
    <section className="panel">
      <h2>
        Devices <span className="muted small">{devices.length < total ? `${devices.length} of ${total}` : total}</span>
      </h2>
      <div className="table-scroll">
        <table data-testid="devices-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th className="num">Threads</th>
              <th>State</th>
              <th className="num">Completed</th>
              <th className="num">Failed</th>
              <th className="num">Rate /s</th>
              <th>Connected</th>
            </tr>
          </thead>
          <tbody>
            {devices.length === 0 && (
              <tr>
                <td colSpan={8} className="muted empty">
                  No device is connected. Open the volunteer page on a phone or computer to add one.
                </td>
              </tr>
            )}
            {devices.map((d) => (
              <tr key={d.id} data-testid="device-row" data-device-id={d.id}>
                <td title={d.id}>{d.name || d.id}</td>
                <td>{d.kind}</td>
                <td className="num">{d.threads}</td>
                <td>
                  <span className={`badge state-${d.state}`}>{d.state}</span>
                </td>
                <td className="num">{formatCount(d.completed)}</td>
                <td className="num">{formatCount(d.failed)}</td>
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
