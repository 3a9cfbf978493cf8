// React adapter over VolunteerSession: one session per page, its snapshot as state, stopped on unmount.
import { useEffect, useState, useSyncExternalStore } from 'react';
import { createDeviceSocket } from '../socket/create-hub-socket.ts';
import { createBrowserRunner } from './create-runner.ts';
import { loadDeviceId } from './device-identity.ts';
import { deviceNameFromUserAgent } from './device-name.ts';
import { WorkerPool } from './worker-pool.ts';
import { VolunteerSession, type VolunteerSnapshot } from './volunteer-session.ts';

export interface VolunteerControls {
  snapshot: VolunteerSnapshot;
  start(): void;
  pause(): void;
  resume(): void;
}

function createSession(threads: number, joinToken: string | undefined): VolunteerSession {
  return new VolunteerSession({
    deviceId: loadDeviceId(),
    name: deviceNameFromUserAgent(navigator.userAgent),
    threads,
    joinToken,
    openSocket: createDeviceSocket,
    createPool: (size) => new WorkerPool(size, createBrowserRunner),
  });
}

export function useVolunteerSession(threads: number, autostart: boolean, joinToken?: string): VolunteerControls {
  const [session] = useState(() => createSession(threads, joinToken));
  const snapshot = useSyncExternalStore(session.subscribe, session.getSnapshot);

  useEffect(() => {
    if (autostart) session.start();
    return () => session.stop();
  }, [session, autostart]);

  return {
    snapshot,
    start: () => session.start(),
    pause: () => session.pause(),
    resume: () => session.resume(),
  };
}
