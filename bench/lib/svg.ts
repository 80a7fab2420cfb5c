// Self-contained SVG line charts for benchmark results (no library, no external assets).

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULT_SUFFIX } from './args.js';

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Vertical lines with a label (e.g. "node stopped"). */
  markers?: { x: number; label: string }[];
  /** Fixed y range; derived from the data when unset. */
  yMax?: number;
}

const COLORS = ['#3b6fd8', '#d04a3c', '#2f9e6e', '#d99a1e', '#8a4fd0', '#1f9bb0', '#c2528b', '#6b7385'];

const esc = (s: string): string => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function lineChart(spec: ChartSpec): string {
  const W = 900, H = 420, L = 70, R = 170, T = 40, B = 50;
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0])).concat((spec.markers ?? []).map((m) => m.x));
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, xMin + 1);
  const yMax = spec.yMax ?? niceMax(Math.max(...spec.series.flatMap((s) => s.points.map((p) => p[1])), 0));
  const x = (v: number): number => L + ((v - xMin) / (xMax - xMin)) * (W - L - R);
  const y = (v: number): number => H - B - (v / yMax) * (H - T - B);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`, `<text x="${L}" y="24" font-size="15" font-weight="bold">${esc(spec.title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e6ee"/>`, `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${+v.toPrecision(3)}</text>`);
  }
  for (let i = 0; i <= 6; i++) {
    const v = xMin + ((xMax - xMin) * i) / 6;
    out.push(`<text x="${x(v)}" y="${H - B + 16}" text-anchor="middle" fill="#555">${+v.toPrecision(3)}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle" fill="#333">${esc(spec.xLabel)}</text>`,
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(spec.yLabel)}</text>`,
    `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#999"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#999"/>`);
  for (const m of spec.markers ?? []) {
    out.push(`<line x1="${x(m.x)}" x2="${x(m.x)}" y1="${T}" y2="${H - B}" stroke="#888" stroke-dasharray="4 3"/>`, `<text x="${x(m.x) + 4}" y="${T + 12}" fill="#555">${esc(m.label)}</text>`);
  }
  spec.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    if (s.points.length > 0) out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`);
    out.push(`<rect x="${W - R + 16}" y="${T + 18 * i}" width="12" height="12" fill="${c}"/>`, `<text x="${W - R + 34}" y="${T + 18 * i + 11}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Where benches write tables and charts: $BENCH_RESULTS, or bench-results/ at the top of the project (kept out of git). */
export function resultsDir(): string {
  const dir = process.env.BENCH_RESULTS ?? fileURLToPath(new URL('../../../bench-results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes a chart into the results folder; returns its path. */
export function writeChart(name: string, spec: ChartSpec): string {
  const file = path.join(resultsDir(), `${name}${RESULT_SUFFIX}.svg`);
  writeFileSync(file, lineChart(spec));
  return file;
}

export interface BarSpec {
  title: string;
  yLabel: string;
  /** One group of bars per category. */
  categories: string[];
  series: { name: string; values: number[] }[];
  /** A horizontal reference line (e.g. a target ratio). */
  reference?: { value: number; label: string };
}

/** Grouped bars: one group per category, one bar per series. */
export function barChart(spec: BarSpec): string {
  const W = 900, H = 420, L = 70, R = 190, T = 40, B = 70;
  const max = niceMax(Math.max(...spec.series.flatMap((s) => s.values), spec.reference?.value ?? 0));
  const y = (v: number): number => H - B - (Math.max(0, v) / max) * (H - T - B);
  const groupW = (W - L - R) / Math.max(1, spec.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, spec.series.length);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`, `<text x="${L}" y="24" font-size="15" font-weight="bold">${esc(spec.title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e6ee"/>`, `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${+v.toPrecision(3)}</text>`);
  }
  out.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(spec.yLabel)}</text>`);
  spec.categories.forEach((c, ci) => {
    const gx = L + ci * groupW + groupW * 0.1;
    spec.series.forEach((s, si) => {
      const v = s.values[ci] ?? 0;
      out.push(`<rect x="${(gx + si * barW).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(H - B - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name}: ${v}`)}</title></rect>`);
    });
    out.push(`<text x="${(gx + groupW * 0.4).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" fill="#333">${esc(c)}</text>`);
  });
  if (spec.reference) {
    const ry = y(spec.reference.value);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${ry}" y2="${ry}" stroke="#d04a3c" stroke-dasharray="5 3"/>`, `<text x="${W - R + 4}" y="${ry + 4}" fill="#d04a3c">${esc(spec.reference.label)}</text>`);
  }
  spec.series.forEach((s, i) => {
    out.push(`<rect x="${W - R + 16}" y="${T + 18 * i}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`, `<text x="${W - R + 34}" y="${T + 18 * i + 11}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes a bar chart into the results folder; returns its path. */
export function writeBarChart(name: string, spec: BarSpec): string {
  const file = path.join(resultsDir(), `${name}${RESULT_SUFFIX}.svg`);
  writeFileSync(file, barChart(spec));
  return file;
}
