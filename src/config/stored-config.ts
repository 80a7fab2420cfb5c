// A proxy config stored in Elliptics under `elliptics.backrunner-config-key` (uploaded with
// `bmeta -upload-backrunner-config`), combined with the config file as the original combines them
// (spec backrunner.md §9.4): a stored document that names a config key itself is used alone;
// otherwise the file is decoded on top of it, the way Go's json.Unmarshal decodes into a struct that
// already holds values — file fields override, maps merge key by key, arrays are replaced, absent
// fields keep the stored value.

import { isPlainObject } from './reader.js';

/** Keys whose objects are maps (keys compared exactly and merged), not config sections. */
const MAP_KEYS = new Set(['headers', 'content-types']);

type Doc = Record<string, unknown>;

/** The key of `obj` that `key` names: exactly for maps, case-insensitively for sections (as Go). */
function findKey(obj: Doc, key: string, isMap: boolean): string | undefined {
  if (Object.hasOwn(obj, key)) return key;
  if (isMap) return undefined;
  const lower = key.toLowerCase();
  return Object.keys(obj).find((k) => k.toLowerCase() === lower);
}

/** `file` decoded on top of `stored` (neither is modified). */
export function overlay(stored: Doc, file: Doc, isMap = false): Doc {
  const out: Doc = { ...stored };
  for (const [key, value] of Object.entries(file)) {
    const target = findKey(out, key, isMap) ?? key;
    const current = out[target];
    const childIsMap = MAP_KEYS.has(key.toLowerCase());
    if (isPlainObject(value) && isPlainObject(current)) out[target] = overlay(current, value, childIsMap);
    else if (value === null && !childIsMap && !Array.isArray(current)) continue; // null leaves scalars alone (Go)
    else out[target] = value;
  }
  return out;
}

/** Whether a stored document names a config key itself (then it is used alone). */
function namesConfigKey(doc: Doc): boolean {
  const ell = doc[findKey(doc, 'elliptics', false) ?? 'elliptics'];
  if (!isPlainObject(ell)) return false;
  const v = ell[findKey(ell, 'backrunner-config-key', false) ?? 'backrunner-config-key'];
  return typeof v === 'string' && v !== '';
}

/**
 * The effective config document from the stored text and the file's document. Throws a
 * SyntaxError (or Error) when the stored text is not a JSON object.
 */
export function combineStoredConfig(storedText: string, fileDoc: Doc): Doc {
  const stored: unknown = JSON.parse(storedText);
  if (!isPlainObject(stored)) throw new Error('the stored config is not a JSON object');
  return namesConfigKey(stored) ? stored : overlay(stored, fileDoc);
}
