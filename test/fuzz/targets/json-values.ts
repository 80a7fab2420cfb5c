// Structure-aware mutation of JSON documents: a value somewhere in the tree replaced by one of
// another type or at an edge, a key dropped, renamed or added. Most byte-level mutations of JSON
// only make it unparseable; these reach the code behind the parser.

import type { Rng } from '../random.js';
import { mutate } from '../mutate.js';

const EDGE_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, 1, 0.5, -0.5, 1e300, -1e300, 2 ** 53, 2 ** 32, 2 ** 31, 65536, 4294967296, -2147483649,
  '', ' ', 'x', '0', '-1', '1e9', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', ':', '[::1]:80', 'host:port:family', '1.2.3.4:5:6:7',
  'always', 'any', 'all', '\u0000', '../../etc/passwd', '/', 'é', 'a'.repeat(5000), [], [1], ['x'], [null], [-1, 0], {}, { a: 1 }, { user: '*' },
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every (container, key) in the tree. */
function slots(v: Json, out: [Json[] | Record<string, Json>, string | number][] = []): typeof out {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) out.push([v, k]), slots(v[k]!, out);
  return out;
}

export function mutateJson(rng: Rng, text: string): string {
  if (rng.chance(0.15)) return mutate(rng, Buffer.from(text)).toString('latin1');
  const doc = JSON.parse(text) as Json;
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const all = slots(doc);
    if (all.length === 0) break;
    const [container, key] = rng.pick(all);
    const op = rng.int(10);
    if (op < 6) (container as Record<string | number, Json>)[key] = structuredClone(rng.pick(EDGE_VALUES)) as Json;
    else if (op < 8) {
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete container[key as string];
    } else if (!Array.isArray(container)) {
      const name = rng.chance(0.5) ? String(key).toUpperCase() : `${String(key)}-${rng.int(10)}`;
      container[name] = structuredClone(rng.pick(EDGE_VALUES)) as Json;
    }
  }
  return JSON.stringify(doc);
}
