// The one-way rules of README "Layout": for each area of the code, the areas it may import. An
// area is a folder with everything under it, unless a deeper folder is an area of its own
// (src/elliptics/protocol inside src/elliptics, src/storage-node/engine inside src/storage-node).
// Listed bottom-up: an area may only import areas listed before it.

export const LAYERS: ReadonlyArray<readonly [area: string, mayImport: readonly string[]]> = [
  ['src/util', []],
  ['src/elliptics/protocol', ['src/util']],
  ['src/config', ['src/util', 'src/elliptics/protocol']],
  ['src/elliptics', ['src/util', 'src/elliptics/protocol']],
  ['src/buckets', ['src/util', 'src/elliptics/protocol', 'src/config', 'src/elliptics']],
  ['src/ipc', ['src/util', 'src/elliptics/protocol', 'src/config', 'src/elliptics', 'src/buckets']],
  ['src/storage-node/engine', ['src/util', 'src/elliptics/protocol', 'src/config']],
  ['src/storage-node', ['src/util', 'src/elliptics/protocol', 'src/config', 'src/elliptics', 'src/buckets', 'src/ipc', 'src/storage-node/engine']],
  ['src/recovery', ['src/util', 'src/elliptics/protocol', 'src/config', 'src/elliptics', 'src/buckets', 'src/ipc']],
  ['src/proxy', ['src/util', 'src/elliptics/protocol', 'src/config', 'src/elliptics', 'src/buckets', 'src/ipc', 'src/recovery']],
  ['src/primary', ['src/util', 'src/elliptics/protocol', 'src/config', 'src/elliptics', 'src/buckets', 'src/ipc', 'src/recovery']],
  ['src/cli', ['src/util', 'src/elliptics/protocol', 'src/config', 'src/elliptics', 'src/buckets', 'src/recovery', 'src/storage-node', 'src/primary']],
  ['workers', ['src/util', 'src/proxy', 'src/storage-node']],
  // Benchmarks and tests drive every part from outside; nothing imports them.
  ['bench', ['*']],
  ['test', ['*']],
];

export const AREAS = LAYERS.map(([area]) => area);

export function mayImport(from: string, to: string): boolean {
  const rule = LAYERS.find(([area]) => area === from);
  if (!rule) return false;
  return rule[1].includes('*') ? !to.startsWith('bench') && !to.startsWith('test') : rule[1].includes(to);
}
