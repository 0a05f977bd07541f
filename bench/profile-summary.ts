// Summarises a V8 CPU profile (from `npm run bench -- --cpu-prof <dir>`): where the process
// spent its time, by function (self time) and by package, so that tuning starts where the
// time goes. Open the file in Chrome DevTools or speedscope for the call trees.
//
//   node --experimental-strip-types bench/profile-summary.ts <file.cpuprofile> [top]
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The package a script belongs to (`@scope/name` under node_modules), or what it is. */
function ownerOf(url: string): string {
  if (!url) return '(native / V8)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const [first, second] = url.slice(modules + 'node_modules/'.length).split('/');
    return first?.startsWith('@') ? `${first}/${second}` : (first ?? url);
  }
  if (url.startsWith('node:')) return 'node (built-in)';
  const project = /\/(packages|subgraphs|gateway|prisma|scripts)\/([^/]+)/.exec(url);
  return project ? `project: ${project[1]}/${project[2]}` : url;
}

const [file, topArgument] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(topArgument ?? 25);
const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const selfMicros = new Map<number, number>();
profile.samples.forEach((id, index) => {
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
});
const total = [...selfMicros.values()].reduce((sum, micros) => sum + micros, 0);

const byFunction = new Map<string, number>();
const byOwner = new Map<string, number>();
for (const [id, micros] of selfMicros) {
  const frame = nodes.get(id)?.callFrame;
  if (!frame) continue;
  const where = frame.url
    ? `${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`
    : '';
  const name = `${frame.functionName || '(anonymous)'} ${where}`.trim();
  byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
  const owner = ownerOf(frame.url);
  byOwner.set(owner, (byOwner.get(owner) ?? 0) + micros);
}
const idle = [...selfMicros]
  .filter(([id]) => nodes.get(id)?.callFrame.functionName === '(idle)')
  .reduce((sum, [, micros]) => sum + micros, 0);

// Shares of the busy time: an idle process (waiting for I/O) is not what tuning targets.
const busy = total - idle;
byFunction.delete('(idle)');
byOwner.set('(native / V8)', (byOwner.get('(native / V8)') ?? 0) - idle);
const print = (title: string, entries: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * micros) / busy).toFixed(1).padStart(5)} %  ${name}`);
  }
};
console.log(
  `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy; shares of the busy time`,
);
print('Self time by package', byOwner);
print('Self time by function', byFunction);
