// Part 3 of bench:ingest: the ingest function as Lambda receives it. Bundles every function with
// lib/function-bundle.ts (the options the CDK app builds them with), reports their sizes, and how
// long a fresh Node process takes to import the ingest bundle (module-scope clients, logger and
// configuration included; nothing is sent anywhere at import).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { Metafile } from 'esbuild';
import { FUNCTIONS, type FunctionName } from '../../contract/functions.js';
import { bundleFunction, esbuildTarget } from '../../lib/function-bundle.js';
import { kib, median, ms, table } from './measurement.js';

const execFileAsync = promisify(execFile);

/** Issue 9's target for the deployed variant (with source maps), on the 2-core development machine. */
export const MAX_COLD_IMPORT_MS = 120;

export interface BundleOptions {
  readonly repoRoot: string;
  /** Cold imports per variant. */
  readonly runs: number;
  readonly log: (text: string) => void;
}

export interface BundleResult {
  readonly target: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly sourceMapBytes: number;
  readonly esbuildMs: number;
  /** Median in-process `await import()` milliseconds, with NODE_OPTIONS=--enable-source-maps as deployed. */
  readonly coldImportMs: number;
  readonly coldImportNoSourceMapsMs: number;
  /** Median CPU milliseconds (user + system, all threads) of the same import, and of an empty process's start-up. */
  readonly coldImportCpuMs: number;
  readonly emptyProcessCpuMs: number;
  /** Median wall-clock of the whole `node` process (start, import, exit), and of an empty one. */
  readonly processMs: number;
  readonly emptyProcessMs: number;
  /** Minified bytes of every function's index.mjs. */
  readonly functionBytes: Readonly<Record<FunctionName, number>>;
  readonly topPackages: readonly { readonly name: string; readonly bytes: number }[];
}

function packageOf(path: string): string {
  const at = path.lastIndexOf('node_modules/');
  if (at < 0) return path.startsWith('lambdas/') ? 'lambdas/ (this repository)' : path;
  const rest = path.slice(at + 'node_modules/'.length).split('/');
  return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? path);
}

function topPackages(metafile: Metafile, output: string, count: number): BundleResult['topPackages'] {
  const bytes = new Map<string, number>();
  for (const [path, input] of Object.entries(metafile.outputs[output]?.inputs ?? {})) {
    const name = packageOf(path);
    bytes.set(name, (bytes.get(name) ?? 0) + input.bytesInOutput);
  }
  return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, n]) => ({ name, bytes: n }));
}

/** What the function's environment holds at import (in AWS, the CDK stack sets the same names). Every endpoint is a closed local port. */
function importEnvironment(nodeOptions: string | undefined): NodeJS.ProcessEnv {
  const nowhere = 'http://127.0.0.1:9';
  return {
    PATH: process.env['PATH'] ?? '',
    ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }),
    LEDGER_TABLE: 'consent-capture-ledger',
    BATCHES_TABLE: 'consent-capture-batches',
    CAPTURES_BUCKET: 'consent-capture-captures',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDBENCHINGESTCOLD00',
    AWS_SECRET_ACCESS_KEY: 'bench-ingest-dummy-secret-key-not-a-credential',
    AWS_ENDPOINT_URL_KMS: nowhere,
    AWS_ENDPOINT_URL_DYNAMODB: nowhere,
    AWS_ENDPOINT_URL_S3: nowhere,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_LAMBDA_FUNCTION_NAME: 'consent-capture-ingest',
    POWERTOOLS_SERVICE_NAME: 'consent-capture',
    POWERTOOLS_METRICS_NAMESPACE: 'ConsentCapture',
  };
}

/**
 * Wall-clock milliseconds of the import, and its CPU milliseconds (user + system, every thread of
 * the process): on a machine other work keeps busy the wall clock waits for a core, the CPU time
 * much less so.
 */
async function coldImport(bundle: string, nodeOptions: string | undefined): Promise<{ importMs: number; importCpuMs: number; processMs: number }> {
  const code = `const c = process.cpuUsage(); const t = performance.now(); const m = await import(${JSON.stringify(pathToFileURL(bundle).href)}); const ms = performance.now() - t; const d = process.cpuUsage(c); if (typeof m.handler !== 'function') throw new Error('no handler'); console.log(ms, (d.user + d.system) / 1000);`;
  const t0 = performance.now();
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', code], { env: importEnvironment(nodeOptions), timeout: 30_000 });
  const processMs = performance.now() - t0;
  const [importMs, importCpuMs] = (stdout.trim().split('\n').at(-1) ?? '').split(' ').map(Number);
  if (importMs === undefined || importCpuMs === undefined || !Number.isFinite(importMs) || !Number.isFinite(importCpuMs)) throw new Error(`the import printed ${JSON.stringify(stdout.slice(0, 200))}`);
  return { importMs, importCpuMs, processMs };
}

/** CPU milliseconds an empty node process has used when its first line runs (start-up, as a baseline for the import's CPU time). */
async function emptyProcessCpuMs(): Promise<number> {
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', 'const d = process.cpuUsage(); console.log((d.user + d.system) / 1000);'], { env: importEnvironment(undefined) });
  return Number(stdout.trim());
}

export async function runBundle(options: BundleOptions): Promise<BundleResult> {
  const { repoRoot, log } = options;
  const { FUNCTION_RUNTIME } = await import('../../lib/constructs/function-defaults.js');
  const target = esbuildTarget(FUNCTION_RUNTIME.name);

  const outDir = mkdtempSync(join(tmpdir(), 'cc-bench-bundle-'));
  try {
    const outfile = join(outDir, 'ingest', 'index.mjs');
    const t0 = performance.now();
    const metafile = await bundleFunction({ entry: join(repoRoot, FUNCTIONS.ingest.entry), outdir: join(outDir, 'ingest'), target });
    const esbuildMs = performance.now() - t0;
    const functionBytes = {} as Record<FunctionName, number>;
    for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
      if (name !== 'ingest') await bundleFunction({ entry: join(repoRoot, FUNCTIONS[name].entry), outdir: join(outDir, name), target });
      functionBytes[name] = statSync(join(outDir, name, 'index.mjs')).size;
    }
    const code = readFileSync(outfile);
    const bytes = code.length;
    const gzipBytes = gzipSync(code).length;
    const sourceMapBytes = statSync(`${outfile}.map`).size;
    const outputKey = Object.keys(metafile.outputs).find((k) => k.endsWith('index.mjs')) ?? '';
    const top = topPackages(metafile, outputKey, 8);

    // Warm the file cache once, then alternate the two variants.
    await coldImport(outfile, undefined);
    const withMaps: number[] = [];
    const withoutMaps: number[] = [];
    const processes: number[] = [];
    const empties: number[] = [];
    const withMapsCpu: number[] = [];
    const emptiesCpu: number[] = [];
    for (let n = 0; n < options.runs; n += 1) {
      // Alternate which variant goes first, so neither always runs on a warmer machine.
      const first = await coldImport(outfile, n % 2 === 0 ? '--enable-source-maps' : undefined);
      const second = await coldImport(outfile, n % 2 === 0 ? undefined : '--enable-source-maps');
      const [a, b] = n % 2 === 0 ? [first, second] : [second, first];
      withMaps.push(a.importMs);
      withMapsCpu.push(a.importCpuMs);
      processes.push(a.processMs);
      withoutMaps.push(b.importMs);
      const e0 = performance.now();
      await execFileAsync(process.execPath, ['--input-type=module', '-e', ''], { env: importEnvironment(undefined) });
      empties.push(performance.now() - e0);
      emptiesCpu.push(await emptyProcessCpuMs());
    }

    const result: BundleResult = {
      target,
      bytes,
      gzipBytes,
      sourceMapBytes,
      esbuildMs,
      coldImportMs: median(withMaps),
      coldImportCpuMs: median(withMapsCpu),
      emptyProcessCpuMs: median(emptiesCpu),
      coldImportNoSourceMapsMs: median(withoutMaps),
      processMs: median(processes),
      emptyProcessMs: median(empties),
      functionBytes,
      topPackages: top,
    };
    log(`lib/function-bundle.ts, esbuild ${target} (from ${FUNCTION_RUNTIME.name}): ingest built in ${ms(esbuildMs)} ms\n`);
    log(`every function, index.mjs minified (issue 9's target: 450 KiB each):\n${table(['function', 'bytes', 'size'], Object.entries(functionBytes).map(([name, n]) => [name, String(n), kib(n)]))}\n`);
    log(
      `${table(
        ['artifact', 'bytes', 'size'],
        [
          ['index.mjs (minified)', String(bytes), kib(bytes)],
          ['index.mjs, gzip -6', String(gzipBytes), kib(gzipBytes)],
          ['index.mjs.map (shipped beside it)', String(sourceMapBytes), kib(sourceMapBytes)],
        ],
      )}\n`,
    );
    log(`largest contributors to index.mjs:\n${table(['package', 'bytes', 'share'], top.map((p) => [p.name, String(p.bytes), `${((p.bytes / bytes) * 100).toFixed(0)}%`]))}\n`);
    log(`cold import, median of ${options.runs} fresh node ${process.version} processes (Lambda runs ${FUNCTION_RUNTIME.name} on arm64; expect different absolute numbers there):\n`);
    log(
      `${table(
        ['measure', 'ms'],
        [
          ['await import(bundle), NODE_OPTIONS=--enable-source-maps (as deployed)', ms(result.coldImportMs)],
          ['await import(bundle), no source maps', ms(result.coldImportNoSourceMapsMs)],
          ['whole process: start, import, exit (with source maps)', ms(result.processMs)],
          ['empty node process, for comparison', ms(result.emptyProcessMs)],
          ['cold import / empty process', (result.coldImportMs / result.emptyProcessMs).toFixed(2)],
          ['CPU time of the import (user + system, all threads), as deployed', ms(result.coldImportCpuMs)],
          ['CPU time of an empty process\'s start-up', ms(result.emptyProcessCpuMs)],
        ],
      )}\n\n`,
    );
    return result;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
