// Reads two V8 heap snapshots (Chrome DevTools format) of one process and says what grew
// between them: by constructor, the objects' own bytes, and what holds the objects that are
// new in the later one (on their shortest path from the roots, the last object that was
// already there, named by its nearest named class). Used for P5b (docs/BENCHMARKS.md).
//
//   node --experimental-strip-types bench/heap-diff.ts early.heapsnapshot late.heapsnapshot
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[]];
      edge_fields: string[];
      edge_types: [string[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface HeapSummary {
  total: number;
  /** The largest object id, for the next snapshot of the same process. */
  maxId: number;
  /** Own bytes and count of the objects of each constructor (or node type). */
  byConstructor: Map<string, { bytes: number; count: number }>;
  /** Own bytes of the objects newer than `sinceId`, by what holds them. */
  byHolder: Map<string, number>;
}

export function summarize(path: string, sinceId = Number.POSITIVE_INFINITY): HeapSummary {
  const heap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const meta = heap.snapshot.meta;
  const nodeWidth = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const typeAt = meta.node_fields.indexOf('type');
  const nameAt = meta.node_fields.indexOf('name');
  const sizeAt = meta.node_fields.indexOf('self_size');
  const edgeCountAt = meta.node_fields.indexOf('edge_count');
  const edgeTypeAt = meta.edge_fields.indexOf('type');
  const toAt = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  // Flat arrays, read through these (an index past the end reads 0).
  const at = (array: ArrayLike<number>, index: number) => array[index] ?? 0;
  const field = (node: number, offset: number) => at(heap.nodes, node * nodeWidth + offset);
  const count = heap.nodes.length / nodeWidth;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += field(i, edgeCountAt) * edgeWidth;
    firstEdge[i + 1] = e;
  }
  const label = (i: number) => {
    const type = nodeTypes[field(i, typeAt)];
    return type === 'object' || type === 'closure'
      ? (heap.strings[field(i, nameAt)] ?? '')
      : `(${type})`;
  };
  const byConstructor = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < count; i++) {
    const size = field(i, sizeAt);
    total += size;
    const name = label(i);
    const entry = byConstructor.get(name) ?? { bytes: 0, count: 0 };
    entry.bytes += size;
    entry.count++;
    byConstructor.set(name, entry);
  }
  // Shortest-path tree from the root (node 0), strong edges only.
  const parent = new Int32Array(count).fill(-1);
  const order = new Uint32Array(count);
  parent[0] = 0;
  let head = 0;
  let tail = 1;
  while (head < tail) {
    const node = at(order, head++);
    for (let e = at(firstEdge, node); e < at(firstEdge, node + 1); e += edgeWidth) {
      const type = at(heap.edges, e + edgeTypeAt);
      if (type === weak || type === shortcut) continue;
      const to = at(heap.edges, e + toAt) / nodeWidth;
      if (parent[to] !== -1) continue;
      parent[to] = node;
      order[tail++] = to;
    }
  }
  // What holds the objects allocated after `sinceId` (ids grow, and stay, within one
  // process): for each, the oldest object on its path from the roots that is not new (the
  // anchor), named by the nearest object of a named class at or above it.
  const idAt = meta.node_fields.indexOf('id');
  const named = new Int32Array(count);
  const anchor = new Int32Array(count).fill(-1);
  const byHolder = new Map<string, number>();
  let maxId = 0;
  for (let k = 0; k < tail; k++) {
    const node = at(order, k);
    const id = field(node, idAt);
    if (id > maxId) maxId = id;
    const up = at(parent, node);
    const isNamed = nodeTypes[field(node, typeAt)] === 'object' && !generic.has(label(node));
    named[node] = k === 0 || isNamed ? node : at(named, up);
    if (k === 0 || id <= sinceId) continue;
    const upIsOld = field(up, idAt) <= sinceId || up === 0;
    const held = upIsOld ? up : at(anchor, up);
    anchor[node] = held;
    const key = `${label(at(named, held))} › ${label(held)}`;
    byHolder.set(key, (byHolder.get(key) ?? 0) + field(node, sizeAt));
  }
  return { total, maxId, byConstructor, byHolder };
}

/** Classes that hold everything, so say nothing about what holds the memory. */
const generic = new Set([
  'Object',
  'Array',
  'Map',
  'Set',
  'WeakMap',
  'Promise',
  'global',
  'Window',
  'process',
  'system / Context',
  'Module',
  'Function',
]);

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

function diffTable(early: Map<string, number>, late: Map<string, number>, rows: number): string[] {
  const names = new Set([...early.keys(), ...late.keys()]);
  return [...names]
    .map((name) => ({ name, a: early.get(name) ?? 0, b: late.get(name) ?? 0 }))
    .sort((x, y) => Math.max(y.a, y.b) - Math.max(x.a, x.b))
    .slice(0, rows)
    .map(({ name, a, b }) => `| ${name.slice(0, 60)} | ${mib(a)} | ${mib(b)} | ${mib(b - a)} |`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [earlyPath, latePath] = process.argv.slice(2);
  if (!earlyPath || !latePath) throw new Error('usage: heap-diff.ts early late');
  const early = summarize(earlyPath);
  const late = summarize(latePath, early.maxId);
  const bytes = (summary: HeapSummary) =>
    new Map([...summary.byConstructor].map(([name, entry]) => [name, entry.bytes]));
  console.log(`heap ${mib(early.total)} → ${mib(late.total)} MiB\n`);
  console.log('| constructor (own bytes) | early MiB | late MiB | grew MiB |\n|---|---|---|---|');
  console.log(diffTable(bytes(early), bytes(late), 20).join('\n'));
  console.log('\n| objects newer than the early snapshot, held by | MiB |\n|---|---|');
  const holders = [...late.byHolder].sort((x, y) => y[1] - x[1]).slice(0, 25);
  console.log(
    holders.map(([name, bytes]) => `| ${name.slice(0, 80)} | ${mib(bytes)} |`).join('\n'),
  );
}
