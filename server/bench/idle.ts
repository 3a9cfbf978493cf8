/** Idle-devices benchmark: RSS growth of a hub process per idle connected device, against a minimal Socket.IO echo server per idle client, clients in a child process. */
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import type { IdleReply, IdleRequest } from './idle-clients.ts';
import { rssKib, sleep, type ServerProcess } from './harness.ts';

const SETTLE_MS = 1_500;

/** Connects `count` idle clients from a child process; returns the server's RSS growth in KiB per client. */
export async function rssPerIdleClient(server: ServerProcess, count: number, kind: IdleRequest['kind']): Promise<number> {
  await sleep(SETTLE_MS);
  const before = rssKib(server.pid);
  const child = fork(resolve(import.meta.dirname, 'idle-clients.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  try {
    const reply = await new Promise<IdleReply>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('idle clients did not connect in 60 s')), 60_000);
      child.once('message', (m) => {
        clearTimeout(timer);
        ok(m as IdleReply);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`idle clients exited with ${code}`));
      });
      child.send({ url: server.url, count, kind } satisfies IdleRequest);
    });
    if ('error' in reply) throw new Error(reply.error);
    if (reply.connected !== count) throw new Error(`only ${reply.connected} of ${count} idle clients connected`);
    await sleep(SETTLE_MS);
    return (rssKib(server.pid) - before) / count;
  } finally {
    if (child.connected) child.send('close');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
