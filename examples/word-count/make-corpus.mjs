// Writes corpus.txt beside this file: just under 4 MiB of English-like text, the same bytes every time (a seeded generator
// over a fixed vocabulary), for the word-count example. `node examples/word-count/make-corpus.mjs [MiB]`.
import { writeFileSync } from 'node:fs';

const VOCABULARY = `the of and to a in is it that was he for on are as with his they at be this from have or by one had not but
what all were when we there can an your which their said if do will each about how up out them then she many some so these
would other into has more her two like him see time could no make than first been its who now people my made over did down
only way find use may water long little very after words called just where most know get through back much before go good
new write our used me man too any day same right look think also around another came come work three word must because
does part even place well such here take why things help put years different away again off went old number great tell men
say small every found still between name should home big give air line set own under read last never us left end along
while might next sound below saw something thought both few those always looked show large often together asked house
world going want school important until form food keep children feet land side without boy once animals life enough took
sometimes four head above kind began almost live page got earth need far hand high year mother light parts country father
let night following picture being study second eyes soon times story boys since white days ever paper hard near sentence
better best across during today others however sure means knew it's try told young miles sun ways thing whole hear example
heard several change answer room sea against top turned learn point city play toward five using himself usually money seen
didn't car morning given family river mountain open music questions horse north south east west island winter summer`
  .split(/\s+/)
  .filter(Boolean);

const size = Math.round(Number(process.argv[2] ?? 4) * 1024 * 1024);
let state = 0x2545f491;
const next = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};
const parts = [];
let length = 0;
let sentence = 0;
for (;;) {
  const word = VOCABULARY[Math.floor(next() * VOCABULARY.length)];
  const text = sentence === 0 ? word[0].toUpperCase() + word.slice(1) : word;
  sentence++;
  const end = sentence > 6 && next() < 0.15;
  if (end) sentence = 0;
  const piece = `${text}${end ? '.' : ''}${end && next() < 0.2 ? '\n' : ' '}`;
  if (length + piece.length > size) break;
  parts.push(piece);
  length += piece.length;
}
const file = new URL('corpus.txt', import.meta.url);
writeFileSync(file, parts.join(''));
console.log(`wrote ${file.pathname} (${length} bytes)`);
