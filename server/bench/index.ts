/** `npm run bench [-- --json]`: runs each benchmark several rounds and prints medians (min, max); with --json the last line is one JSON object. */
import { measure } from './sqlite-durability.ts';

const ROUNDS = 5;
const json = process.argv.includes('--json');

interface Figure {
  median: number;
  min: number;
  max: number;
}

function summarise(values: number[]): Figure {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN };
}

const figures: Record<string, Figure> = {};
const rows: string[] = [];
for (const batch of [1, 64]) {
  for (const mode of ['FULL', 'NORMAL'] as const) {
    const runs = Array.from({ length: ROUNDS }, () => measure(mode, batch, batch === 1 ? 400 : 100));
    const commits = summarise(runs.map((r) => r.commitsPerSecond));
    const results = summarise(runs.map((r) => r.resultsPerSecond));
    const key = `sqlite_${mode.toLowerCase()}_batch${batch}`;
    figures[`${key}_commits_per_s`] = commits;
    figures[`${key}_results_per_s`] = results;
    rows.push(
      `${mode.padEnd(7)} batch ${String(batch).padStart(3)}  ${commits.median.toFixed(0).padStart(8)} commits/s (${commits.min.toFixed(0)}–${commits.max.toFixed(0)})  ${results.median.toFixed(0).padStart(9)} results/s`,
    );
  }
}
console.log(`SQLite commit-before-ack, WAL, medians of ${ROUNDS} rounds (min–max):`);
for (const row of rows) console.log(`  ${row}`);
if (json) console.log(JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, v]))));
