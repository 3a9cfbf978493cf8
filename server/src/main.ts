/** Entry point of the hub process: reads configuration, opens the store, listens and prints the URLs to open. */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, parseDatabaseUrl, type HubConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { resolveAdminToken } from './admin-token.ts';
import { SqliteJobStore } from './store/sqlite-job-store.ts';
import { sqliteStore, type JobStore } from './store/async-store.ts';
import { PostgresJobStore } from './store/postgres/postgres-job-store.ts';
import { PostgresNetwork } from './store/postgres/pg-network.ts';
import { sharedAdminToken } from './store/postgres/pg-settings.ts';
import { HubNameTakenError, LocalNetwork, type HubNetwork } from './network/hub-network.ts';
import { systemClock } from './clock.ts';
import { createHub } from './app.ts';
import { faultsFromEnv } from './faults.ts';
import { DATABASE_FILE } from './database-file.ts';
import { lanAddresses } from './hub/origin-policy.ts';
import { terminalQr, volunteerUrls } from './hub/join-urls.ts';

/** The embedded SQLite store in the data dir, or the PostgreSQL database every hub with the same URL shares. */
async function openStore(config: HubConfig): Promise<{ store: JobStore; network: HubNetwork; token: string; where: string }> {
  if (config.databaseUrl === undefined) {
    mkdirSync(config.dataDir, { recursive: true });
    const token = resolveAdminToken(config.dataDir, config.token);
    const store = sqliteStore(new SqliteJobStore(join(config.dataDir, DATABASE_FILE), { groupCommit: true, hubName: config.hubName }));
    return { store, network: new LocalNetwork(config.hubName, systemClock), token, where: `data in ${config.dataDir}` };
  }
  const url = parseDatabaseUrl(config.databaseUrl);
  let store: PostgresJobStore;
  try {
    store = await PostgresJobStore.open(config.databaseUrl, { hub: config.hubName });
  } catch (err) {
    throw new ConfigError(`cannot open the database at ${url?.host ?? '?'}${url?.pathname ?? ''} (--database-url): ${(err as Error).message}`);
  }
  const token = await sharedAdminToken(store.session, config.token);
  return { store, network: new PostgresNetwork(store.session, config.hubName), token, where: `data in PostgreSQL at ${url?.host ?? '?'}${url?.pathname ?? ''}` };
}

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env);
  const { store, network, token, where } = await openStore(config);
  const hub = createHub({
    store,
    network,
    clock: systemClock,
    adminToken: token,
    webRoot: resolve(import.meta.dirname, '../../web/dist'),
    retentionDays: config.retentionDays,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    faults: faultsFromEnv(process.env['EDGESWARM_CRASH_AT']),
    ...(config.joinToken === undefined ? {} : { joinToken: config.joinToken }),
    allowedOrigins: config.allowedOrigins,
  });
  try {
    await hub.ready;
  } catch (err) {
    await store.close().catch(() => undefined);
    if (err instanceof HubNameTakenError) throw new ConfigError(`${err.message} (--hub-name)`);
    throw err;
  }
  await new Promise<void>((ok, fail) => {
    hub.httpServer.once('error', fail);
    hub.httpServer.listen(config.port, config.host, () => ok());
  });
  const { port } = hub.httpServer.address() as AddressInfo;
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const hosts = wildcard ? ['localhost', ...lanAddresses()] : [config.host.includes(':') ? `[${config.host}]` : config.host];
  console.log(`Edgeswarm hub ${config.hubName} listening on port ${port} (${where})`);
  for (const host of hosts) {
    const join = config.joinToken === undefined ? '' : `?join=${config.joinToken}`;
    console.log(`Volunteer page: http://${host}:${port}/${join}`);
    console.log(`Dashboard:      http://${host}:${port}/dashboard#token=${token}`);
  }
  // A phone on the LAN joins by scanning this (the dashboard shows one per address too).
  const [phoneUrl] = volunteerUrls(hub.httpServer.address() as AddressInfo, config.joinToken);
  if (phoneUrl !== undefined) {
    console.log(`Scan to volunteer from a phone on this network (${phoneUrl}):\n${await terminalQr(phoneUrl)}`);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    hub
      .shutdown()
      .catch((err: unknown) => console.error('stopping failed', err))
      .finally(() => {
        void store.close();
        console.log('stopped');
        process.exit(0);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`edgeswarm: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
