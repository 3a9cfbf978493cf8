// A job's time model (Job.timing) at a glance: measured wall time against the ideal parallel time and the seed's two
// formulas, where device time went, one sentence of advice, and each device's share and speed.
import { formatMs, type JobTiming } from '@edgeswarm/shared';
import { formatCount } from './format.ts';
import { durationBars, timeSplit } from './time-model-bars.ts';

export function TimeModelView({ timing }: { timing: JobTiming }) {
  const bars = durationBars(timing);
  const split = timeSplit(timing);
  return (
    <section className="time-model" data-testid="time-model" aria-label="Time model">
      <h3>
        Time model{' '}
        <span className="muted small" data-testid="time-model-efficiency">
          efficiency {Math.round(timing.efficiency * 100)}% of ideal
        </span>
      </h3>
      <p className="advice" data-testid="time-model-advice">
        {timing.advice}
      </p>
      <div className="duration-bars" role="list" aria-label="Durations">
        {bars.map((b) => (
          <div className="duration-bar" role="listitem" key={b.key} data-testid={`bar-${b.key}`} data-ms={b.ms} title={b.detail}>
            <span className="bar-label">{b.label}</span>
            <span className="bar-track">
              <span className={`bar-fill bar-${b.key}`} style={{ width: `${b.percent}%` }} />
            </span>
            <span className="bar-value mono">{b.text}</span>
          </div>
        ))}
      </div>
      <div className="time-split" aria-label="Where device time went">
        <div className="split-track">
          {split.map((p) => (
            <span key={p.key} className={`split-${p.key}`} style={{ width: `${p.percent}%` }} title={`${p.label}: ${formatMs(p.ms)}`} />
          ))}
        </div>
        <ul className="split-legend">
          {split.map((p) => (
            <li key={p.key}>
              <span className={`swatch split-${p.key}`} /> {p.label} {Math.round(p.percent)}%
            </li>
          ))}
        </ul>
      </div>
      <dl className="facts model-terms">
        <dt title="mean run time of one input">T_p</dt>
        <dd className="mono">{formatMs(timing.meanRunMs)}</dd>
        <dt title="mean round trip to the hub, as devices measured it">T_comm</dt>
        <dd className="mono">{formatMs(timing.commMs)}</dd>
        <dt title="devices that returned accepted results">n</dt>
        <dd className="mono">
          {formatCount(timing.devices)} device{timing.devices === 1 ? '' : 's'}, {formatCount(timing.threads)} thread{timing.threads === 1 ? '' : 's'}
        </dd>
        <dt title="lease and result messages">m</dt>
        <dd className="mono">{formatCount(timing.messages)} messages</dd>
        <dt>Compute</dt>
        <dd className="mono">
          {formatMs(timing.computeMs)} over {formatCount(timing.runs)} runs
          {timing.replicaMs > 0 && `, ${formatMs(timing.replicaMs)} of it replicas`}
          {timing.extraMs > 0 && `; ${formatMs(timing.extraMs)} discarded`}
        </dd>
      </dl>
      {timing.byDevice.length > 0 && (
        <div className="table-scroll">
          <table className="results" data-testid="time-model-devices">
            <thead>
              <tr>
                <th>Device</th>
                <th className="num">Share</th>
                <th className="num">Runs</th>
                <th className="num">Mean run</th>
                <th className="num">Threads</th>
              </tr>
            </thead>
            <tbody>
              {timing.byDevice.map((d) => (
                <tr key={d.deviceId}>
                  <td title={d.deviceId}>{d.name || d.deviceId}</td>
                  <td className="num">{Math.round(d.share * 100)}%</td>
                  <td className="num">{formatCount(d.runs)}</td>
                  <td className="num mono">{formatMs(d.meanRunMs)}</td>
                  <td className="num">{d.threads}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
