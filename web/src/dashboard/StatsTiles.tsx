// The row of headline numbers at the top of the dashboard (from the feed's HubStats).
import type { HubStats } from '@edgeswarm/shared';
import { formatCount, formatRate } from './format.ts';

const TILES: ReadonlyArray<{ id: string; label: string; value: (s: HubStats) => string }> = [
  { id: 'hubs', label: 'Hubs', value: (s) => formatCount(s.hubs ?? 1) },
  { id: 'devices', label: 'Devices', value: (s) => formatCount(s.devices) },
  { id: 'threads', label: 'Threads', value: (s) => formatCount(s.threads) },
  { id: 'subtasks-per-second', label: 'Subtasks / s', value: (s) => formatRate(s.subtasksPerSecond) },
  { id: 'completed', label: 'Completed', value: (s) => formatCount(s.completed) },
  { id: 'queued', label: 'Queued', value: (s) => formatCount(s.queued) },
  { id: 'running', label: 'Running', value: (s) => formatCount(s.running) },
];

export function StatsTiles({ stats }: { stats: HubStats | null }) {
  return (
    <section className="tiles" aria-label="Hub statistics">
      {TILES.map((tile) => (
        <div className="tile" key={tile.id}>
          <div className="tile-label">{tile.label}</div>
          <div className="tile-value" data-testid={`stat-${tile.id}`}>
            {stats ? tile.value(stats) : '—'}
          </div>
        </div>
      ))}
    </section>
  );
}
