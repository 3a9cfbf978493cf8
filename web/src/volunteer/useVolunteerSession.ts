// React adapter over VolunteerSession: one session per page, its snapshot as state, stopped on unmount; it also feeds
// the session the browser's signals the volunteer opted into (tab hidden, not charging).
import { useEffect, useState, useSyncExternalStore } from 'react';
import { createDeviceSocket } from '../socket/create-hub-socket.ts';
import { createBrowserRunner } from './create-runner.ts';
import { loadDeviceId } from './device-identity.ts';
import { deviceNameFromUserAgent } from './device-name.ts';
import { WorkerPool } from './worker-pool.ts';
import { VolunteerSession, type CpuLimit, type VolunteerSnapshot } from './volunteer-session.ts';
import { BrowserBlobStore, type BlobStoreUsage } from './blob-store.ts';

export interface VolunteerControls {
  snapshot: VolunteerSnapshot;
  start(): void;
  pause(): void;
  resume(): void;
  setThreads(threads: number): void;
  setCpuLimit(percent: CpuLimit): void;
  pauseWhenHidden: boolean;
  setPauseWhenHidden(on: boolean): void;
  /** Null where the browser has no Battery Status API (the option is then not offered). */
  onlyWhileCharging: boolean | null;
  setOnlyWhileCharging(on: boolean): void;
  /** Job data (work modules, shared files) kept in this browser's storage; null until read or without IndexedDB. */
  storedData: BlobStoreUsage | null;
  clearStoredData(): void;
}

interface BatteryManagerLike extends EventTarget {
  charging: boolean;
}

function createSession(threads: number, joinToken: string | undefined, blobStore: BrowserBlobStore, hubs: string[] | undefined): VolunteerSession {
  return new VolunteerSession({
    blobStore,
    deviceId: loadDeviceId(),
    name: deviceNameFromUserAgent(navigator.userAgent),
    threads,
    joinToken,
    openSocket: (hello) => createDeviceSocket(hello, hubs),
    createPool: (size) => new WorkerPool(size, createBrowserRunner),
  });
}

function batteryApi(): (() => Promise<BatteryManagerLike>) | null {
  const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryManagerLike> };
  return typeof nav.getBattery === 'function' ? () => nav.getBattery!() : null;
}

export function useVolunteerSession(threads: number, autostart: boolean, joinToken?: string, hubs?: string[]): VolunteerControls {
  const [blobStore] = useState(() => new BrowserBlobStore());
  const [session] = useState(() => createSession(threads, joinToken, blobStore, hubs));
  const [storedData, setStoredData] = useState<BlobStoreUsage | null>(null);

  useEffect(() => {
    const read = () => void blobStore.usage().then(setStoredData, () => setStoredData(null));
    read();
    return blobStore.subscribe(read);
  }, [blobStore]);
  const snapshot = useSyncExternalStore(session.subscribe, session.getSnapshot);
  const [pauseWhenHidden, setPauseWhenHidden] = useState(false);
  const [onlyWhileCharging, setOnlyWhileCharging] = useState<boolean | null>(() => (batteryApi() ? false : null));

  useEffect(() => {
    if (autostart) session.start();
    return () => session.stop();
  }, [session, autostart]);

  useEffect(() => {
    if (!pauseWhenHidden) {
      session.resume('hidden');
      return;
    }
    const apply = () => (document.visibilityState === 'hidden' ? session.pause('hidden') : session.resume('hidden'));
    apply();
    document.addEventListener('visibilitychange', apply);
    return () => document.removeEventListener('visibilitychange', apply);
  }, [session, pauseWhenHidden]);

  useEffect(() => {
    const getBattery = batteryApi();
    if (!onlyWhileCharging || !getBattery) {
      session.resume('battery');
      return;
    }
    let battery: BatteryManagerLike | null = null;
    let cancelled = false;
    const apply = () => {
      if (battery && !cancelled) (battery.charging ? session.resume('battery') : session.pause('battery'));
    };
    void getBattery().then((b) => {
      if (cancelled) return;
      battery = b;
      apply();
      b.addEventListener('chargingchange', apply);
    });
    return () => {
      cancelled = true;
      battery?.removeEventListener('chargingchange', apply);
    };
  }, [session, onlyWhileCharging]);

  return {
    snapshot,
    start: () => session.start(),
    pause: () => session.pause('user'),
    resume: () => session.resume('user'),
    setThreads: (n) => session.setThreads(n),
    setCpuLimit: (percent) => session.setCpuLimit(percent),
    pauseWhenHidden,
    setPauseWhenHidden,
    onlyWhileCharging,
    setOnlyWhileCharging: (on) => setOnlyWhileCharging(batteryApi() ? on : null),
    storedData,
    clearStoredData: () => void blobStore.clear().catch(() => undefined),
  };
}
