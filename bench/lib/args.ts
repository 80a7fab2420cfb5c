// Command-line options of the benches: `--name value`.

/** The value after `--name`, or undefined. */
export function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The number after `--name`, or `def`. */
export function argNumber(name: string, def: number): number {
  const v = argValue(name);
  return v === undefined ? def : Number(v);
}

/** Results of a run under `--page-cache-cap` go to their own files (<bench>-capped.txt / .svg). */
export const RESULT_SUFFIX = process.argv.includes('--page-cache-cap') ? '-capped' : '';
