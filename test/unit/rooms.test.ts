// The layout is the architecture (STYLE.md): a module lives in the room of the process that runs it.
// Reads every import of gateway/src/**/*.ts (static, type-only, re-exports and dynamic import()) and
// checks that no room reaches into one it must not, and that the modules import no cycle.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { ROOT } from '../helpers/gateway.js';

const SRC = path.join(ROOT, 'gateway', 'src');

/**
 * The rooms each room must not import from. primary/ and worker/ are two processes (jobs/, the job
 * engines, runs in the primary); api/ (the API
 * description), ipc/ (what goes between processes: primary⇄worker messages, the gateway⇄sidecar wire
 * and contract) and the top level ('': config, logger, paths, services, sidecar-client,
 * sidecar-contract; cli/) are shared, so they import neither. main.ts, the entry point, is the one
 * module that picks a process.
 */
const FORBIDDEN: Record<string, readonly string[]> = {
  primary: ['worker'],
  worker: ['primary', 'jobs'],
  // The durable jobs' engines, run by the primary (the workers reach them over IPC only).
  jobs: ['primary', 'worker'],
  api: ['primary', 'worker', 'jobs'],
  ipc: ['primary', 'worker', 'api', 'jobs'],
  cli: ['primary', 'worker', 'jobs'],
  '': ['primary', 'worker', 'jobs'],
};
const ENTRY = 'main.ts';

/** Module paths relative to gateway/src, POSIX separators ('worker/app.ts'). */
function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.split(path.sep).join('/'))
    .sort();
}

/** Each module's imports of other gateway modules (relative specifiers, `.js` mapped to its `.ts`). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(SRC, file), 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

function roomOf(file: string): string {
  return file.includes('/') ? file.slice(0, file.indexOf('/')) : '';
}

/** The first import cycle found (a DFS over the graph), as the list of modules round it, or null. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const done = new Set<string>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (file: string): string[] | null => {
    if (onStack.has(file)) return [...stack.slice(stack.indexOf(file)), file];
    if (done.has(file)) return null;
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    onStack.delete(file);
    done.add(file);
    return null;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return null;
}

describe('rooms: gateway/src is laid out by process', () => {
  const files = sourceFiles();
  const graph = importGraph(files);

  it('reads the imports (every relative import names a module that exists)', () => {
    assert.ok(files.includes('primary/primary.ts') && files.includes('worker/worker.ts'), 'gateway/src not found');
    assert.ok((graph.get(ENTRY) ?? []).includes('primary/primary.ts'), "main.ts's dynamic import of the primary was not read");
    const missing = [...graph].flatMap(([file, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${file} → ${t}`));
    assert.deepEqual(missing, []);
  });

  it('no room imports from a room it must not (primary ⇸ worker, worker ⇸ primary, shared rooms ⇸ either)', () => {
    const crossings = [...graph]
      .filter(([file]) => file !== ENTRY)
      .flatMap(([file, targets]) => targets.filter((t) => (FORBIDDEN[roomOf(file)] ?? []).includes(roomOf(t))).map((t) => `${file} → ${t}`));
    assert.deepEqual(crossings, []);
  });

  it('every room is known (a new room says what it may import)', () => {
    const unknown = files.filter((f) => f !== ENTRY && !(roomOf(f) in FORBIDDEN));
    assert.deepEqual(unknown, []);
  });

  it('no import cycle among the gateway modules', () => {
    assert.equal(findCycle(graph)?.join(' → ') ?? null, null);
  });
});
