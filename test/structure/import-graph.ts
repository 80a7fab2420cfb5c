// The import graph of the project's TypeScript sources, read from the files themselves (no
// compiler): every `import … from`, `export … from`, side-effect `import '…'` and `import('…')` of
// a relative path, type-only imports included — a newcomer reads those too.
//
// `npm run imports` prints it folder by folder (and any circle); test/structure/structure.test.ts
// holds the project to no circles and to the one-way rules of README "Layout".

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/structure/ or is read from test/structure/). */
export const REPO_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'src'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no repository root above ${from}`);
  }
}

/** File (repo-relative, `src/x/y.ts`) → the repo-relative files it imports. */
export type ImportGraph = Map<string, string[]>;

const IMPORT_RE = /^\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/gm;

/** Reads every .ts file under `dirs` (repo-relative) and resolves its relative imports. */
export function readImportGraph(dirs: readonly string[], root = REPO_ROOT): ImportGraph {
  const files: string[] = [];
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'fixtures') walk(p);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) files.push(p);
    }
  };
  for (const d of dirs) walk(path.join(root, d));
  const graph: ImportGraph = new Map();
  for (const file of files.sort()) {
    const text = stripComments(fs.readFileSync(file, 'utf8'));
    const deps = new Set<string>();
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = (m[1] ?? m[2])!;
      deps.add(path.relative(root, resolveSource(path.resolve(path.dirname(file), spec))));
    }
    graph.set(path.relative(root, file), [...deps].sort());
  }
  return graph;
}

/** `./x.js` names the compiled file; the source is `./x.ts` (or `./x/index.ts`). */
function resolveSource(target: string): string {
  const ts = target.replace(/\.js$/, '.ts');
  if (fs.existsSync(ts)) return ts;
  const index = path.join(target.replace(/\.js$/, ''), 'index.ts');
  return fs.existsSync(index) ? index : ts;
}

/** Comments out of the way, so an import quoted in a comment does not count. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** Every import circle: the strongly connected components with more than one file (or a self-import). */
export function importCircles(graph: ImportGraph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/**
 * The area a file belongs to: the longest of `areas` that contains it (`src/proxy/http/x.ts` is in
 * `src/proxy` unless `src/proxy/http` is an area of its own).
 */
export function areaOf(file: string, areas: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const a of areas) if ((file === a || file.startsWith(`${a}/`)) && (!best || a.length > best.length)) best = a;
  return best;
}

/** Imports between areas, counted: `from → to` → number of import lines. */
export function areaEdges(graph: ImportGraph, areas: readonly string[]): Map<string, number> {
  const edges = new Map<string, number>();
  for (const [file, deps] of graph) {
    const from = areaOf(file, areas) ?? path.dirname(file);
    for (const d of deps) {
      const to = areaOf(d, areas) ?? path.dirname(d);
      if (to === from) continue;
      const k = `${from} → ${to}`;
      edges.set(k, (edges.get(k) ?? 0) + 1);
    }
  }
  return edges;
}

/** Folder → the folders it imports, every folder on its own (the finest map). */
export function folderEdges(graph: ImportGraph): Map<string, number> {
  const folders = [...new Set([...graph.keys()].map((f) => path.dirname(f)))];
  return areaEdges(graph, folders);
}
