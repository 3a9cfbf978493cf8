// The SDK from plain Node.js (no TypeScript tooling): count the primes below 10,000,000 with the WebAssembly example,
// watching progress, then read a few results in input order.
// Run: EDGESWARM_URL=http://localhost:8080 EDGESWARM_TOKEN=... node examples/sdk/run-primes.mjs
import { connect, range, JobFailedError } from '@edgeswarm/client';

const hub = connect(); // url and token from EDGESWARM_URL and EDGESWARM_TOKEN
const work = new URL('../wasm-primes/work.ts', import.meta.url);

const total = await hub.run(work, range(0, 100), { name: 'primes below 10^7', reduce: 'sum' });
total.on('progress', ({ completed, total: all }) => process.stderr.write(`\r${completed}/${all} blocks`));
const done = await total.done;
process.stderr.write('\n');
console.log(`primes below 10,000,000: ${done.result}`);

// The same module, every result kept: the primes in each of the first five blocks of 100,000.
const perBlock = await hub.run(work, [0, 1, 2, 3, 4]);
for await (const { index, value } of perBlock.results()) console.log(`block ${index}: ${value} primes`);

// An input the module refuses: the error comes back typed, at the module's own line.
try {
  await (await hub.run(work, [-1], { maxAttempts: 1 })).done;
} catch (err) {
  if (!(err instanceof JobFailedError)) throw err;
  console.log(`input ${err.index} failed (${err.code}): ${err.deviceMessage.split('\n')[0]}`);
}
