/** Content-addressed blobs (bundles and shared files): how jobs name them and what a job says of each. */

/** The 64 lowercase hex digits of a SHA-256. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
/** How a JobSpec names a blob: `sha256:HEX`. */
export const BLOB_REF = /^sha256:([0-9a-f]{64})$/;
/** Names of shared files: what `ctx.shared[NAME]` is called. */
export const SHARED_NAME = /^[A-Za-z_$][A-Za-z0-9_$.-]{0,99}$/;

export const SHARED_AS = ['bytes', 'json'] as const;
/** How job code sees a shared file: bytes as a `Uint8Array`, json as the parsed value. */
export type SharedAs = (typeof SHARED_AS)[number];

/** A shared file of a job as the hub stores it and devices receive it. */
export interface SharedFile {
  name: string;
  /** The blob's SHA-256 (hex). */
  blob: string;
  as: SharedAs;
  /** Bytes; filled in by the hub from the stored blob. */
  size: number;
}

/** A job's bundle: the blob holding its work module. */
export interface BundleRef {
  blob: string;
  size: number;
}

/** `sha256:HEX` for a hex digest. */
export const blobRef = (hex: string): string => `sha256:${hex}`;

/** The hex digest of a `sha256:HEX` reference, or null when it is not one. */
export function parseBlobRef(ref: unknown): string | null {
  if (typeof ref !== 'string') return null;
  return BLOB_REF.exec(ref)?.[1] ?? null;
}

/** The script name a device gives a bundle when it evaluates it: errors' stack frames name it, and clients map them back. */
export function bundleFileName(hex: string): string {
  return `edgeswarm-bundle-${hex.slice(0, 12)}.js`;
}

/** Finds `edgeswarm-bundle-XXXXXXXXXXXX.js:LINE:COLUMN` positions in a device's error message. */
export const BUNDLE_POSITION = /edgeswarm-bundle-([0-9a-f]{12})\.js:(\d+):(\d+)/g;
