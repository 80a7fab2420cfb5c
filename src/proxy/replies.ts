// Reply bodies with the original's field names and shapes (spec backrunner.md §4), JSON encoded as
// Go encodes it (`<`, `>`, `&` escaped).

import type { GroupResult } from '../elliptics/group-result.js';
import { idToHex } from '../elliptics/protocol/key.js';
import { formatAddr } from '../elliptics/protocol/addr.js';

const GO_ESCAPED = /[<>&\u2028\u2029]/;
const GO_ESCAPED_ALL = /[<>&\u2028\u2029]/g;
const goEscape = (json: string): string =>
  GO_ESCAPED.test(json) ? json.replace(GO_ESCAPED_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;

/** JSON.stringify with Go's HTML-safe escaping. */
export function goJson(value: unknown): string {
  return goEscape(JSON.stringify(value));
}

const ZERO_CSUM = '0'.repeat(128);

/**
 * The upload reply `{bucket, key, reply}` with the lookup reply of the original's structs (spec §4:
 * info[] of per-group results, success-groups, error-groups), built as a string: it is on the path of
 * every small upload, where building and walking an object tree showed in profiles. A unit test holds
 * it byte-identical to goJson of those structs.
 */
export function uploadReplyJson(bucket: string, key: string, results: readonly GroupResult[], id: Buffer): string {
  return `{"bucket":${goEscape(JSON.stringify(bucket))},"key":${goEscape(JSON.stringify(key))},"reply":${lookupResultJson(results, id)}}`;
}

/** The lookup reply of the original's structs, built as a string (see uploadReplyJson). */
export function lookupResultJson(results: readonly GroupResult[], id: Buffer): string {
  let info = '';
  let ok = '';
  let failed = '';
  let hexId: string | undefined;
  for (const r of results) {
    if (info !== '') info += ',';
    if (r.status !== 0 || !r.info) {
      const message = goEscape(JSON.stringify(r.error?.message ?? 'failed'));
      info += `{"group":${r.group},"backend":${r.backendId},"id":"","csum":"","filename":"","size":0,"offset-within-data-file":0,"mtime":"","server":"","error":{"Code":${r.status || -22},"Flags":0,"Message":${message}}}`;
      // The groups lists go by status alone, as lookupResult's do.
      if (r.status === 0) ok += ok === '' ? `${r.group}` : `,${r.group}`;
      else failed += failed === '' ? `${r.group}` : `,${r.group}`;
      continue;
    }
    hexId ??= idToHex(id);
    const csum = r.info.checksum.every((b) => b === 0) ? ZERO_CSUM : r.info.checksum.toString('hex');
    const server = r.storage ? formatAddr(r.storage) : r.address;
    info += `{"group":${r.group},"backend":${r.backendId},"id":"${hexId}","csum":"${csum}","filename":${goEscape(JSON.stringify(r.info.path))},"size":${r.info.size},"offset-within-data-file":${r.info.offset},"mtime":"${goTimeString(r.info.mtime.sec, r.info.mtime.nsec)}","server":${goEscape(JSON.stringify(server))},"error":null}`;
    ok += ok === '' ? `${r.group}` : `,${r.group}`;
  }
  return `{"info":[${info}],"success-groups":[${ok}],"error-groups":[${failed}]}`;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

let zoneFormat: Intl.DateTimeFormat | undefined;
/**
 * The local zone's abbreviation at `d`. UTC (servers) needs no lookup; other zones ask Intl, which is
 * slow and maps ICU's data into memory, once per hour.
 */
const zoneCache = new Map<number, string>();
/** Read once: the environment is slow to query and a server's zone does not change while it runs. */
const TZ_UNSET_OR_UTC = process.env.TZ === undefined || process.env.TZ === 'UTC' || process.env.TZ === '';
function zoneAbbreviation(d: Date, offset: number): string {
  if (offset === 0 && TZ_UNSET_OR_UTC) return 'UTC';
  const hour = Math.floor(d.getTime() / 3_600_000);
  let abbrev = zoneCache.get(hour);
  if (abbrev === undefined) {
    zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    const zone = zoneFormat.formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
    const sign = offset >= 0 ? '+' : '-';
    abbrev = /^GMT[+-]/.test(zone) || zone === 'GMT' ? (offset === 0 ? 'UTC' : `${sign}${pad(Math.floor(Math.abs(offset) / 60))}`) : zone;
    if (zoneCache.size > 64) zoneCache.clear();
    zoneCache.set(hour, abbrev);
  }
  return abbrev;
}

let lastTime = { sec: -1, nsec: -1, text: '' };

/**
 * Go's time.Time.String(): `2006-01-02 15:04:05.999999999 -0700 MST` in the local zone. The replicas of
 * one write share their mtime: the last answer is kept.
 */
export function goTimeString(sec: number, nsec: number): string {
  if (sec === lastTime.sec && nsec === lastTime.nsec) return lastTime.text;
  const text = formatGoTime(sec, nsec);
  lastTime = { sec, nsec, text };
  return text;
}

function formatGoTime(sec: number, nsec: number): string {
  const d = new Date(sec * 1000);
  const frac = nsec > 0 ? `.${String(nsec).padStart(9, '0').replace(/0+$/, '')}` : '';
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${frac} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)} ${zoneAbbreviation(d, offset)}`;
}
