// What the job sandbox frame (/sandbox) offers the volunteer page, and the headers the hub and the dev server serve it with.

import type { WorkSource } from '@edgeswarm/shared';

/** Bumped when the page and the frame would no longer understand each other. */
export const SANDBOX_API_VERSION = 5;

/** Where the frame is served (hub and Vite dev server). */
export const SANDBOX_PATH = '/sandbox/';

/** The buffers of a job's shared files, to transfer (not copy) along with it. */
export function transferables(work: WorkSource): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const file of work.shared) if (file.as === 'bytes' && file.bytes.buffer instanceof ArrayBuffer) buffers.push(file.bytes.buffer);
  return buffers;
}

/** A copy of `work` whose shared files' bytes each have a buffer of their own, to transfer to one runner. */
export function copyForTransfer(work: WorkSource): WorkSource {
  return { ...work, shared: work.shared.map((file) => (file.as === 'bytes' ? { ...file, bytes: file.bytes.slice() } : file)) };
}
