/** The `/dashboard` namespace: token-checked live feed that pushes throttled snapshots of stats, devices and jobs. */
import type { Namespace } from 'socket.io';
import {
  CONNECT_REFUSALS,
  dashboardHelloSchema,
  type DashboardToHubEvents,
  type FeedSnapshot,
  type HubToDashboardEvents,
} from '@edgeswarm/shared';
import type { Principal } from '../auth/principal.ts';
import { protocolRefusal, refusal } from './handshake.ts';

interface FeedSocketData {
  token: string;
}

export type DashboardNamespace = Namespace<DashboardToHubEvents, HubToDashboardEvents, Record<string, never>, FeedSocketData>;

export interface DashboardFeedOptions {
  /** The admin or submitter a token stands for now (null: unknown or revoked). */
  resolve: (token: string) => Promise<Principal | null>;
  snapshot: (principal: Principal) => Promise<FeedSnapshot>;
  intervalMs: number;
  log: (message: string, err?: unknown) => void;
}

/** Returns a function that stops the feed's timer. */
export function attachDashboardFeed(nsp: DashboardNamespace, options: DashboardFeedOptions): () => void {
  nsp.use(async (socket, next) => {
    const hello = dashboardHelloSchema.safeParse(socket.handshake.auth);
    if (!hello.success) {
      next(refusal(CONNECT_REFUSALS.unauthorized, 'the dashboard must send {protocol, token} in auth'));
      return;
    }
    const mismatch = protocolRefusal(hello.data.protocol);
    if (mismatch) {
      next(mismatch);
      return;
    }
    let principal: Principal | null;
    try {
      principal = await options.resolve(hello.data.token);
    } catch (err) {
      options.log('checking a dashboard token failed', err);
      next(refusal(CONNECT_REFUSALS.unauthorized, 'the hub could not check the token now; try again'));
      return;
    }
    if (!principal) {
      next(refusal(CONNECT_REFUSALS.unauthorized, 'the token is not valid'));
      return;
    }
    socket.data.token = hello.data.token;
    next();
  });

  /** One snapshot per principal per tick; a socket whose token was revoked meanwhile is disconnected. */
  const pushAll = async (sockets: Iterable<{ data: FeedSocketData; emit: (event: 'feed:snapshot', s: FeedSnapshot) => boolean; disconnect: (close?: boolean) => unknown }>) => {
    const built = new Map<string, Promise<FeedSnapshot>>();
    for (const socket of [...sockets]) {
      try {
        const principal = await options.resolve(socket.data.token);
        if (!principal) {
          socket.disconnect(true);
          continue;
        }
        const key = principal.kind === 'admin' ? '' : `s:${principal.name}`;
        let snapshot = built.get(key);
        if (!snapshot) built.set(key, (snapshot = options.snapshot(principal)));
        socket.emit('feed:snapshot', await snapshot);
      } catch (err) {
        options.log('building the dashboard snapshot failed', err);
      }
    }
  };
  nsp.on('connection', (socket) => void pushAll([socket]));
  // One push at a time: a slow store skips ticks rather than piling them up.
  let pushing = false;
  const timer = setInterval(() => {
    if (pushing || nsp.sockets.size === 0) return;
    pushing = true;
    void pushAll(nsp.sockets.values()).finally(() => {
      pushing = false;
    });
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
