// React adapter over VolunteerSession: one session per page, its snapshot as state, stopped on unmount; it also feeds
// the session the browser's signals: those the volunteer opted into (tab hidden, not charging), a battery below the
// level they set (default 20%) while not charging, and serious CPU pressure (Compute Pressure API, where there is one).
import { useEffect, useState, useSyncExternalStore } from 'react';
import { createDeviceSocket } from '../socket/create-hub-socket.ts';
import { createBrowserRunner } from './create-runner.ts';
import { loadDeviceId } from './device-identity.ts';
import { deviceNameFromUserAgent } from './device-name.ts';
import { WorkerPool } from './worker-pool.ts';
import { VolunteerSession, type CpuLimit, type VolunteerSnapshot } from './volunteer-session.ts';
import { BrowserBlobStore, type BlobStoreUsage } from './blob-store.ts';
import { BATTERY_FLOORS, DEFAULT_BATTERY_FLOOR, batteryPause, pressureEase, type BatteryFloor, type PressureState } from './device-care.ts';
import { DonationLedger } from './donation-ledger.ts';
import { browserStorage, readItem, writeItem } from '../common/safe-storage.ts';

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
  /** Pause below this battery level (percent, 0 = never) while not charging; null without the Battery Status API. */
  batteryFloor: BatteryFloor | null;
  setBatteryFloor(percent: BatteryFloor): void;
  /** Job data (work modules, shared files) kept in this browser's storage; null until read or without IndexedDB. */
  storedData: BlobStoreUsage | null;
  clearStoredData(): void;
}

interface BatteryManagerLike extends EventTarget {
  charging: boolean;
  level: number;
}

interface PressureRecordLike {
  state: PressureState;
}

interface PressureObserverLike {
  observe(source: 'cpu', options?: { sampleInterval?: number }): Promise<void>;
  disconnect(): void;
}

type PressureObserverCtor = new (callback: (records: PressureRecordLike[]) => void) => PressureObserverLike;

const FLOOR_KEY = 'edgeswarm.batteryFloor';

/** The level the volunteer picked on an earlier visit, else the default. */
function storedFloor(): BatteryFloor {
  const text = readItem(browserStorage(), FLOOR_KEY);
  const value = Number(text);
  return text !== null && (BATTERY_FLOORS as readonly number[]).includes(value) ? (value as BatteryFloor) : DEFAULT_BATTERY_FLOOR;
}

function createSession(threads: number, joinToken: string | undefined, blobStore: BrowserBlobStore, hubs: string[] | undefined, ledger: DonationLedger): VolunteerSession {
  return new VolunteerSession({
    blobStore,
    ledger,
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

export function useVolunteerSession(threads: number, autostart: boolean, joinToken?: string, hubs?: string[], watchPressure = true): VolunteerControls {
  const [blobStore] = useState(() => new BrowserBlobStore());
  const [ledger] = useState(() => new DonationLedger());
  const [session] = useState(() => createSession(threads, joinToken, blobStore, hubs, ledger));

  // What this browser gave is kept when the page goes away (reload, tab closed).
  useEffect(() => {
    const flush = () => ledger.flush();
    window.addEventListener('pagehide', flush);
    return () => {
      window.removeEventListener('pagehide', flush);
      flush();
    };
  }, [ledger]);
  const [storedData, setStoredData] = useState<BlobStoreUsage | null>(null);

  useEffect(() => {
    const read = () => void blobStore.usage().then(setStoredData, () => setStoredData(null));
    read();
    return blobStore.subscribe(read);
  }, [blobStore]);
  const snapshot = useSyncExternalStore(session.subscribe, session.getSnapshot);
  const [pauseWhenHidden, setPauseWhenHidden] = useState(false);
  const [onlyWhileCharging, setOnlyWhileCharging] = useState<boolean | null>(() => (batteryApi() ? false : null));
  const [batteryFloor, setBatteryFloor] = useState<BatteryFloor | null>(() => (batteryApi() ? storedFloor() : null));

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

  // The battery, read once for both rules: no charger (when the volunteer asked to run only while charging), and a
  // level below the floor they set while not charging (whatever else they opted into).
  useEffect(() => {
    const getBattery = batteryApi();
    const floor = batteryFloor ?? 0;
    if (!getBattery || (!onlyWhileCharging && floor <= 0)) {
      session.resume('battery');
      session.resume('battery-low');
      return;
    }
    let battery: BatteryManagerLike | null = null;
    let cancelled = false;
    const apply = () => {
      if (!battery || cancelled) return;
      if (onlyWhileCharging && !battery.charging) session.pause('battery');
      else session.resume('battery');
      const why = batteryPause({ charging: battery.charging, level: battery.level }, floor);
      if (why === null) session.resume('battery-low');
      else session.pause('battery-low', why);
    };
    getBattery().then(
      (b) => {
        if (cancelled) return;
        battery = b;
        apply();
        b.addEventListener('chargingchange', apply);
        b.addEventListener('levelchange', apply);
      },
      () => undefined,
    );
    return () => {
      cancelled = true;
      battery?.removeEventListener('chargingchange', apply);
      battery?.removeEventListener('levelchange', apply);
    };
  }, [session, onlyWhileCharging, batteryFloor]);

  // CPU pressure (Chromium's Compute Pressure API): the page eases off to 50% CPU under `serious` pressure and to 25% under
  // `critical`, until it eases (see `pressureEase`). `?pressure=off` ignores it (a machine given over to the work).
  useEffect(() => {
    const Observer = (globalThis as { PressureObserver?: PressureObserverCtor }).PressureObserver;
    if (typeof Observer !== 'function' || !watchPressure) return;
    let observer: PressureObserverLike | null = null;
    try {
      observer = new Observer((records) => {
        const last = records.at(-1);
        if (!last) return;
        session.easeOff(pressureEase(last.state));
      });
      observer.observe('cpu', { sampleInterval: 2_000 }).catch(() => undefined);
    } catch {
      observer = null;
    }
    return () => {
      observer?.disconnect();
      session.easeOff(null);
    };
  }, [session, watchPressure]);

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
    batteryFloor,
    setBatteryFloor: (percent) => {
      if (!batteryApi()) return;
      writeItem(browserStorage(), FLOOR_KEY, String(percent));
      setBatteryFloor(percent);
    },
    storedData,
    clearStoredData: () => void blobStore.clear().catch(() => undefined),
  };
}
