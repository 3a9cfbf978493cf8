// The time model's chart as data: one bar per duration (measured, ideal, the seed's two formulas) on a common scale,
// and the split of device time between compute and communication.
import { formatMs, type JobTiming } from '@edgeswarm/shared';

export interface DurationBar {
  key: 'wall' | 'ideal' | 'edge' | 'serverless';
  label: string;
  /** What the bar stands for, for a tooltip. */
  detail: string;
  ms: number;
  /** Of the longest bar, 0–100. */
  percent: number;
  text: string;
}

export function durationBars(t: JobTiming): DurationBar[] {
  const raw: Omit<DurationBar, 'percent' | 'text'>[] = [
    { key: 'wall', label: 'Measured wall time', detail: 'from the job’s start to its end (or now)', ms: t.wallMs },
    { key: 'ideal', label: 'Ideal parallel', detail: `compute time ÷ ${t.threads} thread${t.threads === 1 ? '' : 's'} used`, ms: t.model.idealParallelMs },
    { key: 'edge', label: 'Edge model', detail: 'T_p·n + T_comm·m', ms: t.model.edgeMs },
    { key: 'serverless', label: 'Serverless model', detail: 'T_p·n + T_comm·(n−1)', ms: t.model.serverlessMs },
  ];
  const max = Math.max(...raw.map((b) => b.ms), 1e-9);
  return raw.map((b) => ({ ...b, percent: Math.max(0, Math.min(100, (100 * b.ms) / max)), text: formatMs(b.ms) }));
}

export interface SplitPart {
  key: 'compute' | 'comm' | 'replicas' | 'wasted';
  label: string;
  ms: number;
  percent: number;
}

/** Device time by what it went to: useful compute, exchanges with the hub, extra replicas, discarded runs. */
export function timeSplit(t: JobTiming): SplitPart[] {
  const parts: Omit<SplitPart, 'percent'>[] = [
    { key: 'compute', label: 'Compute', ms: Math.max(0, t.computeMs - t.replicaMs) },
    { key: 'comm', label: 'Communication (T_comm·m)', ms: t.commTotalMs },
    { key: 'replicas', label: 'Replicas (verification)', ms: t.replicaMs },
    { key: 'wasted', label: 'Discarded runs', ms: t.extraMs },
  ];
  const total = parts.reduce((s, p) => s + p.ms, 0);
  return parts.filter((p) => p.ms > 0).map((p) => ({ ...p, percent: total > 0 ? (100 * p.ms) / total : 0 }));
}
