/** Wires the hub together: store, services, HTTP API and Socket.IO on one HTTP server, plus the periodic sweeps. */
import type { Server as HttpServer } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { Server } from 'socket.io';
import { DASHBOARD_NAMESPACE, DEVICE_NAMESPACE, type FeedSnapshot, type HubStats } from '@edgeswarm/shared';
import { AddressConnectionCap, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from './hub/guards.ts';
import type { Clock } from './clock.ts';
import type { Faults } from './faults.ts';
import { JobService } from './jobs/job-service.ts';
import { BLOB_UNUSED_KEEP_MS, BlobService } from './blobs/blob-service.ts';
import { BlobDelivery } from './blobs/blob-delivery.ts';
import { WorkService } from './scheduler/work-service.ts';
import { ThroughputMeter } from './stats/throughput.ts';
import { createHttpApi } from './hub/http-api.ts';
import { volunteerUrls } from './hub/join-urls.ts';
import { attachDeviceNamespace, type DeviceNamespace } from './hub/device-socket.ts';
import { attachDashboardFeed, type DashboardNamespace } from './hub/dashboard-feed.ts';
import { HubMetrics } from './metrics/hub-metrics.ts';
import { OriginPolicy, originMiddleware } from './hub/origin-policy.ts';
import { resolvePrincipal, type Principal } from './auth/principal.ts';
import { instrumentStore } from './metrics/instrumented-store.ts';
import type { JobStore } from './store/async-store.ts';
import { LocalNetwork, type HubNetwork } from './network/hub-network.ts';
import { NetworkService } from './network/network-service.ts';

export interface HubOptions {
  /** Where the hub keeps everything (`sqliteStore(new SqliteJobStore(file))` for the embedded engine). */
  store: JobStore;
  /** Wall time for timestamps; lease deadlines use the network's clock (this one's `monotonic` for a lone hub). */
  clock: Clock;
  /** The hubs this one serves the network with. @defaultValue a network of this hub alone, named "hub" */
  network?: HubNetwork;
  adminToken: string;
  webRoot: string;
  retentionDays: number;
  /** Crash points for durability tests; default none. */
  faults?: Faults;
  /** Socket.IO connections allowed from one address; 0 = no cap. */
  maxConnectionsPerAddress?: number;
  /** Private pool: devices without this token in their handshake are refused (`join_token_required`). */
  joinToken?: string;
  /** Browser origins admitted besides the hub's own (learnt when it listens), or '*'. Default: its own only. */
  allowedOrigins?: readonly string[] | '*';
  log?: (message: string, err?: unknown) => void;
  /** How often leases are checked for expiry. */
  sweepIntervalMs?: number;
  feedIntervalMs?: number;
  leaseTtlMs?: number;
}

export interface Hub {
  /**
   * Settles once the hub has joined its network and the leases of its previous process are voided (the hub should
   * listen only then); rejects when it may not join (HubNameTakenError).
   */
  ready: Promise<void>;
  network: NetworkService;
  httpServer: HttpServer;
  io: Server;
  jobs: JobService;
  work: WorkService;
  /** Prometheus metrics, served at `GET /metrics`. */
  metrics: HubMetrics;
  stats(): Promise<HubStats>;
  /** Stops timers, closes sockets and the HTTP server; the store stays open (its owner closes it). */
  close(): Promise<void>;
  /**
   * Graceful stop: no new leases, a grace period for results already on their way, then sockets
   * close. Leases stay as they are, to be voided (without counting a loss) when the hub starts again.
   */
  shutdown(graceMs?: number): Promise<void>;
}

const DEVICES_IN_FEED = 100;
const JOBS_IN_FEED = 50;
const PURGE_ROWS_PER_STEP = 5000;
/** Blob chunks (1 MiB each) removed per step. */
const BLOB_PURGE_ROWS_PER_STEP = 16;
/** How often blobs no job refers to any more are looked for. */
const BLOB_PURGE_INTERVAL_MS = 600_000;
/** Largest Socket.IO message: a batch of results, one of which may be 1 MiB of JSON escaped inside a string. */
export const MAX_SOCKET_MESSAGE_BYTES = 8 * 1024 * 1024;

export function createHub(options: HubOptions): Hub {
  const hubNetwork = options.network ?? new LocalNetwork('hub', options.clock);
  // Wall time from the hub's clock; monotonic time (lease deadlines) from the network's shared one.
  const clock: Clock = { now: () => options.clock.now(), monotonic: () => hubNetwork.clock.monotonic() };
  const log = options.log ?? ((message, err) => console.error(`[hub] ${message}`, err ?? ''));
  const metrics = new HubMetrics({
    stats: () => stats(),
    jobCountsByStatus: () => db.jobCountsByStatus(),
    activeJobDepths: (limit) => db.activeJobDepths(limit),
    ...(hubNetwork.shared ? { hubName: hubNetwork.hubName } : {}),
  });
  // Everything the hub does with the store goes through this, so writes are timed and counted.
  const db: JobStore = instrumentStore(options.store, metrics, log);
  options.store.observeCommits?.((seconds, calls) => metrics.groupCommitted(seconds, calls));
  /** Subtasks completed through the whole network (other hubs' arrive with heartbeats) and through this hub. */
  const meter = new ThroughputMeter(300);
  const ownMeter = new ThroughputMeter(10);
  let ownCompleted = 0;
  const httpServer = createAdaptorServer({ fetch: (req) => app.fetch(req) }) as HttpServer;
  const origins = new OriginPolicy(options.allowedOrigins ?? []);
  const io = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: MAX_SOCKET_MESSAGE_BYTES,
    // Long-polling from a page of an admitted origin other than this hub's (another hub's page with ?hubs=, a
    // reverse proxy's name): the browser reads the answers only with CORS headers naming that origin.
    cors: { origin: (origin, callback) => callback(null, origin !== undefined && origins.allows(origin)) },
    // Every transport's handshake, long-polling included (DNS rebinding: see OriginPolicy.allowsHandshake).
    allowRequest: (req, callback) => {
      const allowed = origins.allowsHandshake(req.headers);
      callback(allowed ? null : 'origin_not_allowed', allowed);
    },
  });
  const devices = io.of(DEVICE_NAMESPACE) as DeviceNamespace;
  const dashboards = io.of(DASHBOARD_NAMESPACE) as DashboardNamespace;
  httpServer.on('listening', () => origins.addOwn(httpServer.address()));
  // First: a page of another origin gets nothing, not even a connection slot (cross-site WebSocket hijacking).
  devices.use(originMiddleware(origins));
  dashboards.use(originMiddleware(origins));
  const cap = new AddressConnectionCap(options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS);
  devices.use(cap.middleware);
  dashboards.use(cap.middleware);
  devices.on('connection', (socket) => cap.track(socket));
  dashboards.on('connection', (socket) => cap.track(socket));

  const localThreads = () => {
    let threads = 0;
    for (const socket of devices.sockets.values()) threads += socket.data.threads ?? 0;
    return threads;
  };
  const network: NetworkService = new NetworkService({
    network: hubNetwork,
    localFigures: () => ({
      devices: devices.sockets.size,
      threads: localThreads(),
      subtasksPerSecond: ownMeter.ratePerSecond(clock.now(), 10),
      completed: ownCompleted,
    }),
    jobStopped: (jobId) => devices.emit('job:stopped', { jobId }),
    workAvailable: () => devices.emit('work:available'),
    released: (outcome) => {
      for (const jobId of outcome.jobsFailed) devices.emit('job:stopped', { jobId });
      if (outcome.requeued > 0) devices.emit('work:available');
    },
    // Closing the transport (not a Socket.IO disconnect, after which clients would not reconnect) makes devices
    // reconnect and register again, with fresh leases.
    declaredDead: () => {
      for (const socket of devices.sockets.values()) socket.conn.close();
    },
    completedElsewhere: (n) => meter.record(n, clock.now()),
    log,
  });
  /** Threads of the whole network's devices, which size leases so work spreads over all of them. */
  // Asked at every lease: a lone hub counts its own sockets, as it always did; a hub of a network adds what the others
  // reported at the last heartbeat.
  const fleetThreads = () => (hubNetwork.shared ? Math.max(localThreads(), network.figures().threads) : localThreads());
  /** Devices here should drop a stopped job's runs, and so should every other hub's. */
  const jobStopped = (jobId: string) => {
    devices.emit('job:stopped', { jobId });
    network.announce({ kind: 'job_stopped', jobId });
  };
  const workAvailable = () => {
    devices.emit('work:available');
    network.announce({ kind: 'work_available' });
  };
  let purging = false;
  const purge = () => {
    if (purging) return;
    purging = true;
    const step = async () => {
      try {
        if ((await db.purgeStep(PURGE_ROWS_PER_STEP)) > 0) {
          setTimeout(() => void step(), 10).unref();
          return;
        }
        // Then blobs that no live job refers to and that nobody used lately.
        const now = clock.now();
        if ((await db.purgeBlobs(now - BLOB_UNUSED_KEEP_MS, now, BLOB_PURGE_ROWS_PER_STEP)).rows > 0) {
          setTimeout(() => void step(), 10).unref();
          return;
        }
      } catch (err) {
        log('purging deleted jobs failed', err);
      }
      purging = false;
    };
    setImmediate(() => void step());
  };

  const work = new WorkService({
    store: db,
    clock,
    fleetThreads,
    leaseTtlMs: options.leaseTtlMs,
    faults: options.faults,
    onBackgroundError: log,
    events: {
      jobStopped,
      workAvailable,
      subtasksCompleted: (n) => {
        meter.record(n, clock.now());
        ownMeter.record(n, clock.now());
        ownCompleted += n;
      },
      jobFinished: () => {},
    },
  });
  const jobs = new JobService(
    db,
    clock,
    {
      jobSubmitted: workAvailable,
      jobStopped: (jobId) => {
        jobStopped(jobId);
        purge();
      },
    },
    options.faults,
  );

  const stats = async (): Promise<HubStats> => {
    const [counts, online] = await Promise.all([db.workCounts(), db.onlineDeviceCount()]);
    return {
      hubs: network.figures().hubs,
      devices: online,
      threads: fleetThreads(),
      subtasksPerSecond: meter.ratePerSecond(clock.now(), 10),
      ...counts,
    };
  };
  /** What one dashboard sees: every device and the hub's figures; the jobs its token may see. */
  const snapshot = async (principal: Principal): Promise<FeedSnapshot> => {
    const [deviceList, jobList, hubStats] = await Promise.all([
      db.listDevices(0, DEVICES_IN_FEED),
      jobs.list(0, JOBS_IN_FEED, principal),
      stats(),
    ]);
    return {
      stats: hubStats,
      throughput: meter.series(clock.now(), 300),
      devices: deviceList.items,
      devicesTotal: deviceList.total,
      jobs: jobList.items,
      jobsTotal: jobList.total,
    };
  };

  const blobs = new BlobService(db, clock);
  const app = createHttpApi({
    healthy: () => network.healthy(),
    jobs,
    blobs,
    store: db,
    stats,
    metrics,
    origins,
    adminToken: options.adminToken,
    webRoot: options.webRoot,
    volunteerUrls: () => {
      const address = httpServer.address();
      return address !== null && typeof address === 'object' ? volunteerUrls(address, options.joinToken) : [];
    },
    log,
  });
  let stopping = false;
  const delivery = new BlobDelivery({ store: db, served: (bytes) => metrics.blobServed(bytes) });
  attachDeviceNamespace(devices, { store: db, work, blobs: delivery, clock, log, isStopping: () => stopping, joinToken: options.joinToken });
  const stopFeed = attachDashboardFeed(dashboards, {
    resolve: (token) => resolvePrincipal(db, options.adminToken, token),
    snapshot,
    intervalMs: options.feedIntervalMs ?? 1000,
    log,
  });

  // The hub joins its network, then the leases of its previous process are void before any device of this one can
  // ask for work (the store runs each call in order; `ready` settles once recovery is durable).
  const ready = hubNetwork.join().then(async () => {
    network.start();
    await work.recover().catch((err: unknown) => log('recovering leases of the previous process failed', err));
  });
  purge();
  let sweeping = false;
  const sweep = setInterval(() => {
    if (sweeping) return; // a slow store skips ticks rather than running sweeps side by side
    sweeping = true;
    work
      .sweep()
      .catch((err: unknown) => log('lease sweep failed', err))
      .finally(() => {
        sweeping = false;
      });
  }, options.sweepIntervalMs ?? 1000);
  sweep.unref();
  const retention = () => {
    const cutoff = clock.now() - options.retentionDays * 86_400_000;
    db.purgeFinishedBefore(cutoff).then(
      (purged) => {
        if (purged > 0) purge();
      },
      (err: unknown) => log('retention purge failed', err),
    );
  };
  retention();
  const retentionTimer = setInterval(retention, 3_600_000);
  retentionTimer.unref();
  const blobTimer = setInterval(purge, BLOB_PURGE_INTERVAL_MS);
  blobTimer.unref();

  const close = async (): Promise<void> => {
    network.stop();
    clearInterval(sweep);
    clearInterval(retentionTimer);
    clearInterval(blobTimer);
    stopFeed();
    await new Promise<void>((resolve) => {
      void io.close(() => resolve());
    });
    httpServer.closeAllConnections?.();
  };

  return {
    ready,
    network,
    httpServer,
    io,
    jobs,
    work,
    metrics,
    stats,
    close,
    shutdown: async (graceMs = 1000) => {
      work.drain();
      clearInterval(sweep); // leases must not expire while devices are being let go
      if (httpServer.listening) httpServer.close(); // no new connections; open ones finish
      await new Promise((resolve) => setTimeout(resolve, graceMs));
      stopping = true;
      await close();
      await work.flushTiming().catch((err: unknown) => log('writing the time model failed', err));
      // Its devices and leases go back at once (other hubs carry on with them), without counting a loss.
      await hubNetwork.leave(clock.now()).catch((err: unknown) => log('leaving the network failed', err));
    },
  };
}
