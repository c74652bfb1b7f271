/**
 * Summarises a V8 `.cpuprofile` (from `npm run bench -- --profile`): the functions with the most
 * self time, and the rxnet and rxjs functions with the most total time (self plus callees), each
 * with its file and line, so a report can point at the code to change.
 *
 * Run: `npx ts-node bench/profile-summary.ts bench/results/profiles/rxnet-greet.*.cpuprofile [--top=25]`
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { REPO_DIR } from './lib/processes';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function where(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url === '' ? '(native)' : relative(REPO_DIR, url.replace(/^file:\/\//, ''));
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

/** Startup (ts-node compiling and loading modules) is not what the workload costs: leave it out. */
function loadingModules(
  leaf: ProfileNode,
  byId: ReadonlyMap<number, ProfileNode>,
  parent: ReadonlyMap<number, number>,
): boolean {
  for (
    let n: ProfileNode | undefined = leaf;
    n !== undefined;
    n = byId.get(parent.get(n.id) ?? -1)
  ) {
    if (n.callFrame.functionName === 'Module._load') return true;
  }
  return false;
}

function summarise(path: string, top: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const leaf = byId.get(id)!;
    if (loadingModules(leaf, byId, parent)) return;
    all += dt;
    self.set(where(leaf), (self.get(where(leaf)) ?? 0) + dt);
    // Count each function once per sample, however often it recurs on the stack.
    const seen = new Set<string>();
    for (
      let n: ProfileNode | undefined = leaf;
      n !== undefined;
      n = byId.get(parent.get(n.id) ?? -1)
    ) {
      const key = where(n);
      if (!seen.has(key)) {
        seen.add(key);
        total.set(key, (total.get(key) ?? 0) + dt);
      }
    }
  });
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
  const busy = all - idle;
  const pct = (v: number): string => `${((100 * v) / busy).toFixed(1).padStart(5)} %`;
  const list = (m: Map<string, number>, keep: (k: string) => boolean): string =>
    [...m]
      .filter(([k]) => keep(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `  ${pct(v)}  ${k}`)
      .join('\n');
  return [
    `${path}: ${(busy / 1e6).toFixed(2)} s busy of ${(all / 1e6).toFixed(2)} s sampled (module loading excluded)`,
    'self time (share of busy time):',
    list(self, (k) => !k.startsWith('(idle)')),
    'total time in rxnet (src/, or dist/ as the benchmark runs it) functions:',
    list(total, (k) => k.includes(' src/') || k.includes(' dist/')),
    'total time in rxjs functions:',
    list(total, (k) => k.includes('node_modules/rxjs/')),
  ].join('\n');
}

const args = process.argv.slice(2);
const top = Number(args.find((a) => a.startsWith('--top='))?.slice('--top='.length) ?? 20);
const files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  process.stderr.write('usage: npx ts-node bench/profile-summary.ts FILE.cpuprofile… [--top=N]\n');
  process.exit(2);
}
process.stdout.write(`${files.map((f) => summarise(f, top)).join('\n\n')}\n`);
