/** Entry point of `npm run device`: parses flags, loads the device ids, prints what it runs and where, runs until SIGINT/SIGTERM. */
import { availableParallelism, hostname } from 'node:os';
import { AgentConfigError, USAGE, parseAgentArgs } from './agent-config.ts';
import { IdentityError, claimDeviceIds } from './device-identity.ts';
import { Agent, TRUST_WARNING } from './agent.ts';

const PREFIX = 'edgeswarm device:';
/** How long results already computed get to reach the hub when stopping. */
const STOP_GRACE_MS = 2_000;
const FORCE_EXIT_MS = 10_000;

function main(): void {
  let config;
  try {
    config = parseAgentArgs(process.argv.slice(2), {
      cpus: availableParallelism(),
      hostname: hostname(),
      cwd: process.env['INIT_CWD'] ?? process.cwd(),
      joinToken: process.env['EDGESWARM_JOIN_TOKEN'],
    });
  } catch (err) {
    if (!(err instanceof AgentConfigError)) throw err;
    console.error(`${PREFIX} ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (config.help) {
    console.log(USAGE);
    return;
  }
  let deviceIds: string[];
  let inUse = 0;
  try {
    ({ ids: deviceIds, inUse } = claimDeviceIds(config.idFile, config.devices));
  } catch (err) {
    if (!(err instanceof IdentityError)) throw err;
    console.error(`${PREFIX} ${err.message}`);
    process.exit(1);
  }

  let stopping = false;
  const stop = (code: number, why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${why}: stopping`);
    setTimeout(() => process.exit(code === 0 ? 1 : code), FORCE_EXIT_MS).unref();
    agent
      .stop(code === 0 ? STOP_GRACE_MS : 0)
      .catch((err: unknown) => console.error(`${PREFIX} stopping failed`, err))
      .finally(() => {
        console.log('stopped');
        process.exit(code);
      });
  };
  const agent = new Agent({
    config,
    deviceIds,
    log: (line) => console.log(line),
    onFatal: (message) => {
      if (stopping) return; // every device hears the same refusal: say it once
      console.error(`${PREFIX} ${message}`);
      stop(1, 'cannot continue');
    },
  });

  const { threads, devices, memoryMb, hubUrls, idFile } = config;
  console.log(
    `Edgeswarm device agent: ${devices} device(s) sharing ${threads} worker thread(s), heap limit ${memoryMb} MiB per thread; ids in ${idFile}`,
  );
  for (const d of agent.info) {
    console.log(`Device ${d.number}: id ${d.deviceId}, name "${d.name}", ${d.threads} thread(s) reported, hub ${hubUrls.join(' or ')}`);
  }
  if (inUse > 0) {
    console.log(`${inUse} id(s) of ${idFile} belong to another agent running from this folder: this one runs as other devices`);
  }
  const care = [
    config.maxLoad === null ? null : `while other processes load this machine above ${config.maxLoad} per core`,
    config.onBattery === 'pause' ? 'while it runs on battery' : null,
  ].filter((c): c is string => c !== null);
  if (care.length > 0) console.log(`The devices pause ${care.join(' or ')} (checked every 5 s).`);
  console.log(TRUST_WARNING);
  process.on('SIGINT', () => stop(0, 'SIGINT'));
  process.on('SIGTERM', () => stop(0, 'SIGTERM'));
  agent.start();
}

main();
