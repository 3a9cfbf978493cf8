/** A strict reader of the Prometheus text exposition format (0.0.4), for tests of `GET /metrics`. */
import { expect } from 'vitest';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** The line as printed without its value: one series. */
  series: string;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const VALUE = '(?:NaN|[+-]?Inf|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)';
/** `name{label="value",...} value [timestamp]`. */
const SAMPLE_LINE = new RegExp(`^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? (${VALUE})(?: -?\\d+)?$`);
const COMMENT_LINE = new RegExp(`^# (?:HELP ${NAME} .*|TYPE ${NAME} (?:counter|gauge|histogram|summary|untyped))$`);

/** Parses the text, failing the test on any line that is not a comment, a blank line or `name{labels} value`. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      expect(line, 'comment line').toMatch(COMMENT_LINE);
      continue;
    }
    const m = SAMPLE_LINE.exec(line);
    expect(m, `not a Prometheus sample line: ${line}`).not.toBeNull();
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const raw = m[3]!;
    const value = raw.endsWith('Inf') ? (raw.startsWith('-') ? -Infinity : Infinity) : Number(raw);
    samples.push({ name: m[1]!, labels, value, series: `${m[1]}${m[2] ?? ''}` });
  }
  return samples;
}

/** The value of the one series with this name and exactly these labels. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(found.length, `series ${name}${JSON.stringify(labels)}`).toBe(1);
  return found[0]!.value;
}

/** The series of the hub's own metrics (not the process ones), sorted. */
export function hubSeries(samples: Sample[]): string[] {
  return samples.filter((s) => s.name.startsWith('edgeswarm_')).map((s) => s.series).sort();
}
