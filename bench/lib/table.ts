// Plain-text tables for benchmark output. Every table printed is also kept, and written at exit to
// the results folder as <bench>.txt (bench-results/ by default, see svg.ts).

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { resultsDir } from './svg.js';
import { RESULT_SUFFIX } from './args.js';

const printed: string[] = [];
let hooked = false;

export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
  const text = `\n${title}\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${cells.slice(1).map((r) => `${line(r)}\n`).join('')}`;
  process.stdout.write(text);
  note(text);
}

/** Keeps a line of text for the results file (notes, summaries). */
export function note(text: string): void {
  printed.push(text);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    const name = path.basename(process.argv[1] ?? 'bench', '.js') + RESULT_SUFFIX;
    writeFileSync(path.join(resultsDir(), `${name}.txt`), `${new Date().toISOString()}\n${printed.join('')}`);
  });
}

/** Prints a line and keeps it for the results file. */
export function say(text: string): void {
  process.stdout.write(`${text}\n`);
  note(`${text}\n`);
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n) || Number.isInteger(n)) return Number.isFinite(n) ? n.toLocaleString('en-US') : String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 100)}%` : 'n/a';
}

export function sizeLabel(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MiB` : `${bytes / 1024} KiB`;
}
