/** Entry point of the hub process: reads configuration, opens the store, listens and prints the URLs to open. */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { resolveAdminToken } from './admin-token.ts';
import { SqliteJobStore } from './store/sqlite-job-store.ts';
import { sqliteStore } from './store/async-store.ts';
import { systemClock } from './clock.ts';
import { createHub } from './app.ts';
import { faultsFromEnv } from './faults.ts';
import { DATABASE_FILE } from './database-file.ts';
import { lanAddresses } from './hub/origin-policy.ts';

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env);
  mkdirSync(config.dataDir, { recursive: true });
  const token = resolveAdminToken(config.dataDir, config.token);
  const store = sqliteStore(new SqliteJobStore(join(config.dataDir, DATABASE_FILE), { groupCommit: true }));
  const hub = createHub({
    store,
    clock: systemClock,
    adminToken: token,
    webRoot: resolve(import.meta.dirname, '../../web/dist'),
    retentionDays: config.retentionDays,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    faults: faultsFromEnv(process.env['EDGESWARM_CRASH_AT']),
    ...(config.joinToken === undefined ? {} : { joinToken: config.joinToken }),
    allowedOrigins: config.allowedOrigins,
  });
  await hub.ready;
  await new Promise<void>((ok, fail) => {
    hub.httpServer.once('error', fail);
    hub.httpServer.listen(config.port, config.host, () => ok());
  });
  const { port } = hub.httpServer.address() as AddressInfo;
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const hosts = wildcard ? ['localhost', ...lanAddresses()] : [config.host.includes(':') ? `[${config.host}]` : config.host];
  console.log(`Edgeswarm hub listening on port ${port} (data in ${config.dataDir})`);
  for (const host of hosts) {
    const join = config.joinToken === undefined ? '' : `?join=${config.joinToken}`;
    console.log(`Volunteer page: http://${host}:${port}/${join}`);
    console.log(`Dashboard:      http://${host}:${port}/dashboard#token=${token}`);
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
