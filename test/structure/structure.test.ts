// The code's structure as README "Layout" draws it: no import circle anywhere, and imports that
// only go the ways the layers allow. Read from the TypeScript sources, so it fails the moment a
// change adds a circle or a wrong-way import.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { areaOf, importCircles, readImportGraph, type ImportGraph } from './import-graph.js';
import { AREAS, LAYERS, mayImport } from './layers.js';

const graph = readImportGraph(['src', 'workers', 'bench', 'test']);

/** `from → to` imports that cross areas: [file, imported file, its area, the imported area]. */
function crossings(g: ImportGraph): [string, string, string, string][] {
  const out: [string, string, string, string][] = [];
  for (const [file, deps] of g) {
    const from = areaOf(file, AREAS);
    for (const d of deps) {
      const to = areaOf(d, AREAS);
      if (from && to && from !== to) out.push([file, d, from, to]);
    }
  }
  return out;
}

describe('structure', () => {
  it('reads the sources (the graph is not empty and sees known imports)', () => {
    assert.ok(graph.size > 100, `only ${graph.size} files found`);
    assert.ok(graph.get('src/elliptics/session.ts')?.includes('src/elliptics/cluster.ts'), 'session.ts imports cluster.ts');
  });

  it('finds a circle when there is one (the checker itself)', () => {
    const g: ImportGraph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    assert.deepEqual(importCircles(g), [['a.ts', 'b.ts', 'c.ts']]);
  });

  it('has no import circle in src/, workers/, bench/ or test/', () => {
    assert.deepEqual(importCircles(graph), []);
  });

  it('every file belongs to an area of the layout', () => {
    const lost = [...graph.keys()].filter((f) => !areaOf(f, AREAS));
    assert.deepEqual(lost, []);
  });

  it('areas are listed bottom-up: each may import only areas listed before it', () => {
    LAYERS.forEach(([area, allowed], i) => {
      for (const a of allowed) if (a !== '*') assert.ok(AREAS.indexOf(a) < i && AREAS.indexOf(a) >= 0, `${area} may import ${a}, which is not listed before it`);
    });
  });

  it('imports go only the ways the layers allow', () => {
    const wrong = crossings(graph).filter(([, , from, to]) => !mayImport(from, to)).map(([f, d]) => `${f} → ${d}`);
    assert.deepEqual(wrong, []);
  });

  it('src/proxy never imports src/storage-node or src/primary', () => {
    const wrong = crossings(graph).filter(([, , from, to]) => from === 'src/proxy' && (to.startsWith('src/storage-node') || to === 'src/primary'));
    assert.deepEqual(wrong, []);
  });

  it('src/elliptics imports nothing of src/proxy, src/primary or src/storage-node', () => {
    const wrong = crossings(graph).filter(([, , from, to]) => from.startsWith('src/elliptics') && (to === 'src/proxy' || to === 'src/primary' || to.startsWith('src/storage-node')));
    assert.deepEqual(wrong, []);
  });

  it('src/primary talks to workers through src/ipc, never importing the worker (src/proxy)', () => {
    const wrong = crossings(graph).filter(([, , from, to]) => from === 'src/primary' && to === 'src/proxy');
    assert.deepEqual(wrong, []);
    const primaryUsesIpc = crossings(graph).some(([, , from, to]) => from === 'src/primary' && to === 'src/ipc');
    const proxyUsesIpc = crossings(graph).some(([, , from, to]) => from === 'src/proxy' && to === 'src/ipc');
    assert.ok(primaryUsesIpc && proxyUsesIpc, 'both sides import the shared protocol module');
  });

  it('src/config depends on nothing above it', () => {
    const wrong = crossings(graph).filter(([, , from, to]) => from === 'src/config' && !['src/util', 'src/elliptics/protocol'].includes(to));
    assert.deepEqual(wrong, []);
  });
});
