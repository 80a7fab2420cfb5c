// `npm run imports`: the import graph as README "Layout" describes it — imports between areas
// (with the rule each one follows), any import circle, and the largest files.
//   --folders   every folder on its own instead of the layout's areas
//   --files N   how many of the largest files to list (default 12)

import fs from 'node:fs';
import path from 'node:path';
import { areaEdges, folderEdges, importCircles, readImportGraph, REPO_ROOT } from './import-graph.js';
import { AREAS, mayImport } from './layers.js';

const args = process.argv.slice(2);
const byFolder = args.includes('--folders');
const filesAt = args.indexOf('--files');
const topFiles = filesAt >= 0 ? Number(args[filesAt + 1]) : 12;

const graph = readImportGraph(['src', 'workers', 'bench', 'test']);
const edges = byFolder ? folderEdges(graph) : areaEdges(graph, AREAS);
const out: string[] = [`import graph of ${graph.size} files (${byFolder ? 'folders' : 'areas of README "Layout"'}): from → to  imports`];
for (const [edge, n] of [...edges].sort(([a], [b]) => a.localeCompare(b))) {
  const [from, to] = edge.split(' → ') as [string, string];
  const verdict = byFolder ? '' : mayImport(from, to) ? '' : '   ← not allowed';
  out.push(`  ${edge.padEnd(52)} ${String(n).padStart(4)}${verdict}`);
}
const circles = importCircles(graph);
out.push('', circles.length === 0 ? 'import circles: none' : `import circles: ${circles.length}`);
for (const c of circles) out.push(`  ${c.join(' → ')}`);
const sizes = [...graph.keys()].map((f) => ({ f, lines: fs.readFileSync(path.join(REPO_ROOT, f), 'utf8').split('\n').length }));
out.push('', `largest files (lines):`);
for (const { f, lines } of sizes.sort((a, b) => b.lines - a.lines).slice(0, topFiles)) out.push(`  ${String(lines).padStart(5)}  ${f}`);
process.stdout.write(`${out.join('\n')}\n`);
