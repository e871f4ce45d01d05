// Part 3 of bench:ingest: the ingest function as Lambda receives it. Bundles lambdas/ingest/index.ts
// with esbuild using the options lib/constructs/function-defaults.ts gives NodejsFunction, then
// reports its size and how long a fresh Node process takes to import it (module-scope clients,
// logger and configuration included; nothing is sent anywhere at import).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { kib, median, ms, table } from './measurement.js';

const execFileAsync = promisify(execFile);

/** NodejsFunction's `bundling` in function-defaults.ts; checked against its source below, so a change there is noticed. */
const BANNER = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";
const MIRRORED_OPTIONS = [
  'format: nodejs.OutputFormat.ESM',
  BANNER,
  "mainFields: ['module', 'main']",
  'minify: true',
  'keepNames: true',
  'sourceMap: true',
  'sourceMapMode: nodejs.SourceMapMode.DEFAULT',
  'sourcesContent: false',
  'bundleAwsSDK: true',
  'externalModules: [...UNREACHABLE_IN_LAMBDA]',
  'architecture: lambda.Architecture.ARM_64',
];

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
  /** Median wall-clock of the whole `node` process (start, import, exit), and of an empty one. */
  readonly processMs: number;
  readonly emptyProcessMs: number;
  readonly drift: readonly string[];
  readonly topPackages: readonly { readonly name: string; readonly bytes: number }[];
}

/** `node24` from `nodejs24.x`, as aws-lambda-nodejs derives esbuild's target from the runtime. */
function targetOf(runtimeName: string): string {
  const match = /nodejs(\d+)/.exec(runtimeName);
  if (!match) throw new Error(`cannot derive an esbuild target from runtime ${runtimeName}`);
  return `node${match[1]}`;
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

async function coldImport(bundle: string, nodeOptions: string | undefined): Promise<{ importMs: number; processMs: number }> {
  const code = `const t = performance.now(); const m = await import(${JSON.stringify(pathToFileURL(bundle).href)}); if (typeof m.handler !== 'function') throw new Error('no handler'); console.log(performance.now() - t);`;
  const t0 = performance.now();
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', code], { env: importEnvironment(nodeOptions), timeout: 30_000 });
  const processMs = performance.now() - t0;
  const importMs = Number(stdout.trim().split('\n').at(-1));
  if (!Number.isFinite(importMs)) throw new Error(`the import printed ${JSON.stringify(stdout.slice(0, 200))}`);
  return { importMs, processMs };
}

export async function runBundle(options: BundleOptions): Promise<BundleResult> {
  const { repoRoot, log } = options;
  const { FUNCTION_RUNTIME, UNREACHABLE_IN_LAMBDA } = await import('../../lib/constructs/function-defaults.js');
  const target = targetOf(FUNCTION_RUNTIME.name);
  const defaultsSource = readFileSync(join(repoRoot, 'lib', 'constructs', 'function-defaults.ts'), 'utf8');
  const drift = MIRRORED_OPTIONS.filter((option) => !defaultsSource.includes(option));

  const outDir = mkdtempSync(join(tmpdir(), 'cc-bench-bundle-'));
  try {
    const outfile = join(outDir, 'index.mjs');
    // esbuild's CLI flags in aws-lambda-nodejs: --bundle --target --platform=node --format=esm
    // --outfile=index.mjs --minify --sourcemap --sources-content=false --keep-names --banner:js
    // --main-fields=module,main, and --external only for UNREACHABLE_IN_LAMBDA (bundleAwsSDK).
    const buildOptions: BuildOptions = {
      entryPoints: [join(repoRoot, 'lambdas', 'ingest', 'index.ts')],
      absWorkingDir: repoRoot,
      bundle: true,
      target,
      platform: 'node',
      format: 'esm',
      outfile,
      minify: true,
      sourcemap: 'linked',
      sourcesContent: false,
      keepNames: true,
      banner: { js: BANNER },
      mainFields: ['module', 'main'],
      external: [...UNREACHABLE_IN_LAMBDA],
      metafile: true,
      logLevel: 'silent',
    };
    const t0 = performance.now();
    const built = await build(buildOptions);
    const esbuildMs = performance.now() - t0;
    const code = readFileSync(outfile);
    const bytes = code.length;
    const gzipBytes = gzipSync(code).length;
    const sourceMapBytes = statSync(`${outfile}.map`).size;
    const outputKey = Object.keys(built.metafile?.outputs ?? {}).find((k) => k.endsWith('index.mjs')) ?? '';
    const top = built.metafile === undefined ? [] : topPackages(built.metafile, outputKey, 8);

    // Warm the file cache once, then alternate the two variants.
    await coldImport(outfile, undefined);
    const withMaps: number[] = [];
    const withoutMaps: number[] = [];
    const processes: number[] = [];
    const empties: number[] = [];
    for (let n = 0; n < options.runs; n += 1) {
      // Alternate which variant goes first, so neither always runs on a warmer machine.
      const first = await coldImport(outfile, n % 2 === 0 ? '--enable-source-maps' : undefined);
      const second = await coldImport(outfile, n % 2 === 0 ? undefined : '--enable-source-maps');
      const [a, b] = n % 2 === 0 ? [first, second] : [second, first];
      withMaps.push(a.importMs);
      processes.push(a.processMs);
      withoutMaps.push(b.importMs);
      const e0 = performance.now();
      await execFileAsync(process.execPath, ['--input-type=module', '-e', ''], { env: importEnvironment(undefined) });
      empties.push(performance.now() - e0);
    }

    const result: BundleResult = {
      target,
      bytes,
      gzipBytes,
      sourceMapBytes,
      esbuildMs,
      coldImportMs: median(withMaps),
      coldImportNoSourceMapsMs: median(withoutMaps),
      processMs: median(processes),
      emptyProcessMs: median(empties),
      drift,
      topPackages: top,
    };
    log(
      `esbuild ${target} (from ${FUNCTION_RUNTIME.name}), platform node, esm, minify, keep-names, linked source map without sources, ` +
        `banner, main-fields module,main, everything bundled incl. the AWS SDK but the credential providers Lambda never reaches: built in ${ms(esbuildMs)} ms${built.warnings.length > 0 ? ` with ${built.warnings.length} warnings` : ''}\n`,
    );
    if (drift.length > 0) log(`  WARNING: function-defaults.ts no longer contains ${drift.map((d) => JSON.stringify(d)).join(', ')}; update bench/ingest/bundle.ts to match\n`);
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
        ],
      )}\n\n`,
    );
    return result;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
