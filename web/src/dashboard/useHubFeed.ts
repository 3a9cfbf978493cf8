// React hook over the hub's `/dashboard` live feed: the latest FeedSnapshot and the connection state.
import { useEffect, useState } from 'react';
import { CONNECT_REFUSALS, PROTOCOL_VERSION, type FeedSnapshot } from '@edgeswarm/shared';
import { createDashboardSocket, wasRefusedByHub } from '../socket/create-hub-socket.ts';

export interface HubFeed {
  connected: boolean;
  snapshot: FeedSnapshot | null;
  /** Why the feed is not connected, when known. */
  problem: string | null;
  /** Local time (ms) the snapshot arrived. */
  receivedAt: number;
}

const RETRY_REFUSED_MS = 5_000;

export function useHubFeed(token: string, onUnauthorized: () => void): HubFeed {
  const [feed, setFeed] = useState<HubFeed>({ connected: false, snapshot: null, problem: null, receivedAt: 0 });

  useEffect(() => {
    const socket = createDashboardSocket({ protocol: PROTOCOL_VERSION, token });
    let retry: ReturnType<typeof setTimeout> | null = null;
    socket.on('connect', () => setFeed((f) => ({ ...f, connected: true, problem: null })));
    socket.on('disconnect', () => setFeed((f) => ({ ...f, connected: false, problem: 'Lost the connection to the hub; reconnecting…' })));
    socket.on('feed:snapshot', (snapshot) => setFeed({ connected: true, snapshot, problem: null, receivedAt: Date.now() }));
    socket.on('connect_error', (err) => {
      if (err.message === CONNECT_REFUSALS.unauthorized) {
        onUnauthorized();
        return;
      }
      if (err.message === CONNECT_REFUSALS.clientTooOld) {
        location.reload();
        return;
      }
      const problem =
        err.message === CONNECT_REFUSALS.serverTooOld
          ? 'The hub runs an older version than this page; retrying…'
          : `Cannot reach the hub (${err.message}); retrying…`;
      setFeed((f) => ({ ...f, connected: false, problem }));
      if (wasRefusedByHub(socket) && retry === null) {
        retry = setTimeout(() => {
          retry = null;
          socket.connect();
        }, RETRY_REFUSED_MS);
      }
    });
    return () => {
      if (retry !== null) clearTimeout(retry);
      socket.removeAllListeners();
      socket.disconnect();
    };
    // onUnauthorized is deliberately not a dependency: a new callback identity must not reconnect the feed.
  }, [token]);

  return feed;
}
