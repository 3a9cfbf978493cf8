/** The `/dashboard` namespace: token-checked live feed that pushes throttled snapshots of stats, devices and jobs. */
import type { Namespace } from 'socket.io';
import {
  CONNECT_REFUSALS,
  dashboardHelloSchema,
  type DashboardToHubEvents,
  type FeedSnapshot,
  type HubToDashboardEvents,
} from '@edgeswarm/shared';
import { tokenMatches } from '../admin-token.ts';
import { protocolRefusal, refusal } from './handshake.ts';

export type DashboardNamespace = Namespace<DashboardToHubEvents, HubToDashboardEvents>;

export interface DashboardFeedOptions {
  adminToken: string;
  snapshot: () => FeedSnapshot;
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
    if (!tokenMatches(options.adminToken, hello.data.token)) {
      next(refusal(CONNECT_REFUSALS.unauthorized, 'the token is not valid'));
      return;
    }
    next();
  });

  const push = (target: { emit: DashboardNamespace['emit'] }) => {
    try {
      target.emit('feed:snapshot', options.snapshot());
    } catch (err) {
      options.log('building the dashboard snapshot failed', err);
    }
  };
  nsp.on('connection', (socket) => push(socket));
  const timer = setInterval(() => {
    if (nsp.sockets.size > 0) push(nsp);
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
