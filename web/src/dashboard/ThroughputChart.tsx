// uPlot line chart of completed subtasks per second over the last few minutes.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { ThroughputPoint } from '@edgeswarm/shared';
import { throughputSeries } from './throughput-series.ts';

interface Props {
  points: readonly ThroughputPoint[];
  /** Local time (ms) of the snapshot the points came with. */
  atMs: number;
}

const HEIGHT = 200;

function chartOptions(width: number): uPlot.Options {
  return {
    width,
    height: HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ stroke: '#5d6678' }, { stroke: '#5d6678', size: 50 }],
    series: [
      {},
      {
        label: 'subtasks/s',
        stroke: '#2f6fdf',
        width: 2,
        fill: 'rgba(47, 111, 223, 0.12)',
        points: { show: false },
      },
    ],
  };
}

export function ThroughputChart({ points, atMs }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const chart = new uPlot(chartOptions(Math.max(el.clientWidth, 200)), [[], []], el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(el.clientWidth, 200), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    const latest = points.reduce((m, p) => Math.max(m, Math.floor(p.t)), 0);
    const endS = Math.max(Math.floor((atMs || Date.now()) / 1000), latest);
    plot.current?.setData(throughputSeries(points, endS));
  }, [points, atMs]);

  return (
    <section className="panel">
      <h2>Throughput</h2>
      <p className="muted small">Completed subtasks per second, last 5 minutes.</p>
      <div className="chart" ref={box} data-testid="throughput-chart" />
    </section>
  );
}
