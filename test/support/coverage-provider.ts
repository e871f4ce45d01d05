// Vitest's V8 coverage provider, plus the Lambda handlers the local stack runs in worker threads.
// Vitest takes V8 coverage through an inspector session on the test process's own isolate; each
// local function is a worker thread (local/functions.ts), a separate isolate it never sees. When
// coverage runs, this module points the workers at a directory (WORKER_COVERAGE_DIR_ENV, inherited
// by the test processes), and maps what they wrote back to the .ts sources through the source
// maps of tsx's output, then merges it into vitest's coverage map before reports and thresholds.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profiler } from 'node:inspector';
import v8 from '@vitest/coverage-v8';
import type { CoverageProvider, CoverageProviderModule } from 'vitest/node';
import { WORKER_COVERAGE_DIR_ENV } from '../../local/functions.js';

/** The source folders coverage measures (CONVENTIONS.md's layout, without test/ and bench/). */
export const SOURCE_DIRS = ['agent', 'bin', 'contract', 'datasets', 'lambdas', 'lib', 'local', 'tools'] as const;

interface WorkerScript {
  readonly url: string;
  readonly functions: Profiler.FunctionCoverage[];
  /** The code V8 ran: tsx's output, with an inline source map back to the .ts file. */
  readonly source: string;
}

interface MergeableCoverageMap {
  merge(data: Record<string, unknown>): void;
}

const INLINE_MAP = /\/\/# sourceMappingURL=data:application\/json;(?:charset=utf-8;)?base64,([A-Za-z0-9+/=]+)\s*$/;

function isSource(root: string, file: string): boolean {
  const path = relative(root, file);
  if (isAbsolute(path) || path.startsWith('..') || !path.endsWith('.ts') || path.endsWith('.d.ts')) return false;
  return (SOURCE_DIRS as readonly string[]).includes(path.split(sep)[0] ?? '');
}

/** The workers' coverage in `dir`, as istanbul coverage data keyed by .ts file. */
async function workerCoverage(dir: string, root: string): Promise<Record<string, unknown>[]> {
  const [{ convert }, { mergeProcessCovs }, { parseAstAsync }] = await Promise.all([
    import('ast-v8-to-istanbul'),
    import('@bcoe/v8-coverage'),
    import('vitest/node'),
  ]);
  // Every worker that loaded a module ran the same tsx output: merge the counts, convert once.
  const byScript = new Map<string, { source: string; url: string; runs: Profiler.FunctionCoverage[][] }>();
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const { result } = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { result: WorkerScript[] };
    for (const script of result) {
      const url = script.url.replace(/\?.*$/, '');
      if (!isSource(root, fileURLToPath(url))) continue;
      const key = `${url}\n${script.source}`;
      const entry = byScript.get(key) ?? { source: script.source, url, runs: [] };
      entry.runs.push(script.functions);
      byScript.set(key, entry);
    }
  }
  const converted: Record<string, unknown>[] = [];
  for (const { source, url, runs } of byScript.values()) {
    const merged = mergeProcessCovs(runs.map((functions) => ({ result: [{ scriptId: '0', url, functions }] })));
    const map = INLINE_MAP.exec(source)?.[1];
    converted.push(
      await convert({
        code: source,
        ...(map === undefined ? {} : { sourceMap: JSON.parse(Buffer.from(map, 'base64').toString('utf8')) as { version: number; sources: string[]; mappings: string; names: string[] } }),
        ast: parseAstAsync(source),
        coverage: { url, functions: merged.result[0]?.functions ?? [] },
      }),
    );
  }
  return converted;
}

function withWorkerCoverage(provider: CoverageProvider): CoverageProvider {
  let dir: string | undefined;
  let root = process.cwd();
  const initialize = provider.initialize.bind(provider);
  const generateCoverage = provider.generateCoverage.bind(provider);
  provider.initialize = async (ctx) => {
    await initialize(ctx);
    root = ctx.config.root;
    // Set before the test processes start, which inherit it and hand it to every worker.
    dir = mkdtempSync(join(tmpdir(), 'cc-worker-coverage-'));
    process.env[WORKER_COVERAGE_DIR_ENV] = dir;
  };
  provider.generateCoverage = async (context) => {
    const map = (await generateCoverage(context)) as MergeableCoverageMap;
    if (dir === undefined) return map;
    for (const data of await workerCoverage(dir, root)) {
      map.merge(Object.fromEntries(Object.entries(data).filter(([file]) => isSource(root, file))));
    }
    rmSync(dir, { recursive: true, force: true });
    return map;
  };
  return provider;
}

const provider: CoverageProviderModule = {
  ...v8,
  async getProvider() {
    return withWorkerCoverage(await v8.getProvider());
  },
};

export default provider;
