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
  resolve: (token: string) => Principal | null;
  snapshot: (principal: Principal) => FeedSnapshot;
  intervalMs: number;
  log: (message: string, err?: unknown) => void;
}

/** Returns a function that stops the feed's timer. */
export function attachDashboardFeed(nsp: DashboardNamespace, options: DashboardFeedOptions): () => void {
  nsp.use((socket, next) => {
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
    if (!options.resolve(hello.data.token)) {
      next(refusal(CONNECT_REFUSALS.unauthorized, 'the token is not valid'));
      return;
    }
    socket.data.token = hello.data.token;
    next();
  });

  /** One snapshot per principal per tick; a socket whose token was revoked meanwhile is disconnected. */
  const pushAll = (sockets: Iterable<{ data: FeedSocketData; emit: (event: 'feed:snapshot', s: FeedSnapshot) => boolean; disconnect: (close?: boolean) => unknown }>) => {
    const built = new Map<string, FeedSnapshot>();
    for (const socket of sockets) {
      try {
        const principal = options.resolve(socket.data.token);
        if (!principal) {
          socket.disconnect(true);
          continue;
        }
        const key = principal.kind === 'admin' ? '' : `s:${principal.name}`;
        let snapshot = built.get(key);
        if (!snapshot) built.set(key, (snapshot = options.snapshot(principal)));
        socket.emit('feed:snapshot', snapshot);
      } catch (err) {
        options.log('building the dashboard snapshot failed', err);
      }
    }
  };
  nsp.on('connection', (socket) => pushAll([socket]));
  const timer = setInterval(() => {
    if (nsp.sockets.size > 0) pushAll(nsp.sockets.values());
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
