// The image view of a finished job whose meta says `view: "image"`: every result is a row of iteration counts.
import { useEffect, useRef, useState } from 'react';
import type { Job } from '@edgeswarm/shared';
import { fetchAllResults, type HubApi } from './api-client.ts';
import { imageSize, renderIterationRows } from './iteration-image.ts';

export function JobImage({ api, job }: { api: HubApi; job: Job }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [state, setState] = useState<'loading' | 'ready' | string>('loading');
  // The feed hands over a new job object every second; only a different job or meta means a new image.
  const metaKey = JSON.stringify(job.meta);

  useEffect(() => {
    let cancelled = false;
    setState('loading');
    fetchAllResults(api, job.id).then(
      (rows) => {
        const el = canvas.current;
        const ctx = el?.getContext('2d');
        if (cancelled || !el || !ctx) return;
        const size = imageSize(JSON.parse(metaKey) as Job['meta'], rows);
        el.width = size.width;
        el.height = size.height;
        ctx.putImageData(new ImageData(renderIterationRows(rows, size), size.width, size.height), 0, 0);
        setState('ready');
      },
      (err: unknown) => {
        if (!cancelled) setState(`Could not load the image: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, job.id, metaKey]);

  return (
    <div className="job-image">
      <canvas ref={canvas} data-testid="job-image" data-state={state === 'loading' || state === 'ready' ? state : 'error'} />
      {state === 'loading' && <p className="muted">Drawing the image…</p>}
      {state !== 'loading' && state !== 'ready' && <p className="error">{state}</p>}
    </div>
  );
}
