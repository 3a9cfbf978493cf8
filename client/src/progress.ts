/** The CLI's progress on stderr: a bar on a terminal (cli-progress), plain lines otherwise (a log, CI), at most one every few seconds. */
import { SingleBar, Presets } from 'cli-progress';
import type { ProgressEvent } from './job-handle.ts';

export interface ProgressReporter {
  update(event: ProgressEvent): void;
  stop(): void;
}

/** Plain lines: at most one every this long, and one at the end. */
const LINE_INTERVAL_MS = 2000;

export function progressReporter(stream: NodeJS.WriteStream, jobId: string, now: () => number = () => Date.now()): ProgressReporter {
  if (stream.isTTY) {
    const bar = new SingleBar(
      { stream, format: `${jobId} [{bar}] {percentage}% | {value}/{total} done | {failed} failed | {status} | ETA {eta_formatted}`, hideCursor: true, clearOnComplete: false },
      Presets.shades_classic,
    );
    let started = false;
    return {
      update(event) {
        if (!started) {
          bar.start(event.total, event.completed, { failed: event.failed, status: event.status });
          started = true;
        } else {
          bar.update(event.completed, { failed: event.failed, status: event.status });
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let lastLine = 0;
  let last: ProgressEvent | null = null;
  let printed: ProgressEvent | null = null;
  const print = (event: ProgressEvent) => {
    printed = event;
    lastLine = now();
    stream.write(`${jobId}: ${event.status}, ${event.completed}/${event.total} done, ${event.failed} failed\n`);
  };
  return {
    update(event) {
      last = event;
      if (printed === null || now() - lastLine >= LINE_INTERVAL_MS || event.status !== printed.status) print(event);
    },
    stop() {
      if (last && last !== printed) print(last);
    },
  };
}
