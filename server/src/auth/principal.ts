/** Who is calling the API or the dashboard feed: the admin, or a named submitter token (stored hashed, checked at each call). */
import { createHash, randomBytes } from 'node:crypto';
import { tokenMatches } from '../admin-token.ts';
import type { SubmitterLimits } from '../store/job-store.ts';
import type { JobStore } from '../store/async-store.ts';

export type Principal = { kind: 'admin' } | { kind: 'submitter'; name: string; limits: SubmitterLimits };

export const ADMIN: Principal = { kind: 'admin' };

/** Limits of a new submitter token unless `npm run token -- create` says otherwise. */
export const DEFAULT_SUBMITTER_LIMITS: SubmitterLimits = {
  maxRunning: 10,
  maxInputs: 10_000_000,
  perMinute: 60,
  maxBlobBytes: 2 * 1024 ** 3,
};

/** Submitter token names: what `npm run token` and the dashboard show. */
export const SUBMITTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Tokens are random, so one SHA-256 is enough to keep them out of the database. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newSubmitterToken(): string {
  return `esk_${randomBytes(24).toString('base64url')}`;
}

/** The principal a presented token stands for, or null. Reads the store each time, so new and revoked tokens count at once. */
export async function resolvePrincipal(
  store: Pick<JobStore, 'findSubmitter'>,
  adminToken: string,
  presented: string | undefined | null,
): Promise<Principal | null> {
  if (!presented) return null;
  if (tokenMatches(adminToken, presented)) return ADMIN;
  if (presented.length > 512) return null;
  const submitter = await store.findSubmitter(hashToken(presented));
  return submitter ? { kind: 'submitter', name: submitter.name, limits: submitter.limits } : null;
}

/** Whether `principal` may see and control a job of `owner`. */
export function mayAccess(principal: Principal, owner: string | null): boolean {
  return principal.kind === 'admin' || principal.name === owner;
}
