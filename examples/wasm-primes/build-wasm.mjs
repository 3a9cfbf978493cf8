// Builds primes.wasm from primes.wat with wabt (wat2wasm compiled to JavaScript): `npm run build:wasm -w examples`.
// Both files are committed; run this after editing the .wat.
import { readFileSync, writeFileSync } from 'node:fs';
import wabt from 'wabt';

const here = new URL('.', import.meta.url);
const { parseWat } = await wabt();
const module = parseWat('primes.wat', readFileSync(new URL('primes.wat', here), 'utf8'));
module.validate();
const { buffer } = module.toBinary({ write_debug_names: false });
writeFileSync(new URL('primes.wasm', here), buffer);
module.destroy();
console.log(`wrote primes.wasm (${buffer.length} bytes)`);
