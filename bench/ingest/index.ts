// `npm run bench:ingest`: what POST /v1/events costs, in three parts (docs/encryption.md says what
// the numbers mean for the design):
//   1. handler only: the CPU path for a 1,000-event batch (KMS and S3 round trips excluded) against
//      a floor of JSON.parse + gzip + AES-256-GCM on the same bytes, by stage; the Encryption SDK's
//      frame length; gzip's level;
//   2. end to end through the in-process local stack at concurrency 1 and 4, and the decryption
//      snippet of docs/encryption.md run as written against one stored object;
//   3. the ingest function's bundle as NodejsFunction builds it: size and cold import time;
//   4. history: the event-time consent check against the length of the employee's ledger (a first
//      consent, a busy week, a busy year, the windows' cap), as ratios to the first consent.
// The last line is `RESULT {json}`. Every request goes to 127.0.0.1.
//
// Exit status: 1 when the pipeline takes more than 3× the floor or the bundle's cold import more
// than 120 ms (unless --no-assert), or when
// anything is incorrect (a failed request, or the doc's snippet failing), whatever the flags.
//
// Flags: --parts handler,e2e,bundle,history (all) --seconds <n> (10, part 1's ABC rounds)
// --frame-seconds <n> (6) --e2e-seconds <n> (10 per concurrency) --e2e-batches <n> (300 per
// concurrency) --employees <n> (4) --imports <n> (9 cold imports per variant) --history-seconds <n>
// (6, part 4's rounds) --no-assert
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MAX_COLD_IMPORT_MS, runBundle, type BundleResult } from './bundle.js';
import { runConsentHistory, type ConsentHistoryResult } from './consent-history.js';
import { runEndToEnd, type EndToEndResult } from './end-to-end.js';
import { MAX_RATIO, runHandlerOnly, type HandlerOnlyResult } from './handler-only.js';
import { parseBenchArgs } from '../bench-args.js';

const PARTS = ['handler', 'e2e', 'bundle', 'history'] as const;
type Part = (typeof PARTS)[number];
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const { values: flags } = parseBenchArgs(
  'bench:ingest',
  {
    parts: { type: 'string', default: PARTS.join(',') },
    seconds: { type: 'string', default: '10' },
    'frame-seconds': { type: 'string', default: '6' },
    'e2e-seconds': { type: 'string', default: '10' },
    'e2e-batches': { type: 'string', default: '300' },
    employees: { type: 'string', default: '4' },
    imports: { type: 'string', default: '9' },
    'history-seconds': { type: 'string', default: '6' },
    'no-assert': { type: 'boolean', default: false },
  },
  '[--parts handler,e2e,bundle,history] [--seconds N] [--frame-seconds N] [--e2e-seconds N] [--e2e-batches N] [--employees N] [--imports N] [--history-seconds N] [--no-assert]',
);

function number(name: string, value: string, max: number, integer = true): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max || (integer && !Number.isInteger(n))) {
    process.stderr.write(`bench:ingest: --${name} ${value} must be a ${integer ? 'whole ' : ''}number from 1 to ${max}; e.g. --${name} 2\n`);
    process.exit(2);
  }
  return n;
}

const parts = new Set(
  flags.parts.split(',').map((p) => {
    if (!(PARTS as readonly string[]).includes(p)) {
      process.stderr.write(`bench:ingest: --parts ${flags.parts}: "${p}" is not one of ${PARTS.join(', ')}\n`);
      process.exit(2);
    }
    return p as Part;
  }),
);
const seconds = number('seconds', flags.seconds, 600, false);
const frameSeconds = number('frame-seconds', flags['frame-seconds'], 600, false);
const e2eSeconds = number('e2e-seconds', flags['e2e-seconds'], 600, false);
const e2eBatches = number('e2e-batches', flags['e2e-batches'], 100_000);
const employees = number('employees', flags.employees, 1_000);
const imports = number('imports', flags.imports, 100);
const historySeconds = number('history-seconds', flags['history-seconds'], 600, false);

const log = (text: string): void => {
  process.stdout.write(text);
};
const heading = (title: string): void => log(`\n=== ${title} ===\n`);

async function main(): Promise<void> {
  const started = performance.now();
  let handler: HandlerOnlyResult | undefined;
  let e2e: EndToEndResult | undefined;
  let bundle: BundleResult | undefined;
  let history: ConsentHistoryResult | undefined;
  log(`bench:ingest on node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg()[0]?.toFixed(2)} (other work on this machine moves absolute numbers; ratios are measured back to back)\n`);

  if (parts.has('handler')) {
    heading('1. handler only: CPU path per 1,000-event batch, against the floor');
    handler = await runHandlerOnly({ seconds, frameSeconds, log });
  }
  if (parts.has('e2e')) {
    heading('2. end to end through the local stack');
    e2e = await runEndToEnd({ repoRoot: REPO_ROOT, concurrencies: [1, 4], secondsPerLevel: e2eSeconds, maxBatchesPerLevel: e2eBatches, employees, log });
  }
  if (parts.has('bundle')) {
    heading('3. bundle: size and cold import');
    bundle = await runBundle({ repoRoot: REPO_ROOT, runs: imports, log });
  }
  if (parts.has('history')) {
    heading('4. history: the event-time consent check against the length of the ledger');
    history = await runConsentHistory({ seconds: historySeconds, log });
  }

  const problems: string[] = [];
  if (handler !== undefined && handler.ratio > MAX_RATIO) {
    const text = `pipeline/floor is ${handler.ratio.toFixed(2)}×, above the ${MAX_RATIO}× target`;
    if (flags['no-assert']) log(`note: ${text} (not failing: --no-assert)\n`);
    else problems.push(text);
  }
  if (e2e !== undefined) {
    if (e2e.failures.length > 0) problems.push(`${e2e.failures.length} ingest requests failed, e.g. ${e2e.failures[0]}`);
    if (!e2e.snippet.verified) problems.push(`the docs/encryption.md snippet did not decrypt a stored object: ${e2e.snippet.detail}`);
    if (!e2e.snippet.refusedWithoutGrant) problems.push('the docs/encryption.md snippet decrypted without a grant');
  }
  if (bundle !== undefined && bundle.coldImportMs > MAX_COLD_IMPORT_MS) {
    const text = `cold import takes ${bundle.coldImportMs.toFixed(0)} ms (an empty node process: ${bundle.emptyProcessMs.toFixed(0)} ms), above the ${MAX_COLD_IMPORT_MS} ms target`;
    if (flags['no-assert']) log(`note: ${text} (not failing: --no-assert)\n`);
    else problems.push(text);
  }
  log(`\nbench:ingest took ${((performance.now() - started) / 1000).toFixed(1)} s${problems.length > 0 ? `; FAILED:\n${problems.map((p) => `  - ${p}\n`).join('')}` : '\n'}`);

  const round = (n: number, digits = 2) => Number(n.toFixed(digits));
  const result = {
    ...(handler === undefined
      ? {}
      : {
          handler: {
            batchBytesMedian: handler.batchBytes.median,
            rounds: handler.rounds,
            floorMs: round(handler.floorMs),
            pipelineMs: round(handler.pipelineMs),
            handlerMs: round(handler.handlerMs),
            ratio: round(handler.ratio),
            handlerRatio: round(handler.handlerRatio),
            maxRatio: MAX_RATIO,
            cpuMs: { floor: round(handler.cpuMs.floor), pipeline: round(handler.cpuMs.pipeline), handler: round(handler.cpuMs.handler) },
            stagesMs: Object.fromEntries(Object.entries(handler.stagesMs).map(([k, v]) => [k, round(v)])),
            gzipLevels: handler.gzipLevels.map((g) => ({ level: g.level, ms: round(g.ms), bytes: g.bytes })),
            frames: handler.frames.map((f) => ({
              object: f.object,
              bytes: f.bytes,
              encryptMs: Object.fromEntries(Object.entries(f.encryptMs).map(([k, v]) => [k, round(v, 3)])),
              decryptMs: Object.fromEntries(Object.entries(f.decryptMs).map(([k, v]) => [k, round(v, 3)])),
              overheadBytes: f.overheadBytes,
            })),
            signingSuite: { encryptMs: round(handler.signing.encryptMs, 3), decryptMs: round(handler.signing.decryptMs, 3), overheadBytes: handler.signing.overheadBytes },
          },
        }),
    ...(e2e === undefined
      ? {}
      : {
          e2e: {
            startupMs: e2e.startupMs,
            firstBatchMs: round(e2e.firstBatchMs, 1),
            levels: e2e.levels.map((l) => ({ concurrency: l.concurrency, batches: l.batches, batchesPerSecond: round(l.batchesPerSecond, 1), p50Ms: round(l.p50Ms, 1), p99Ms: round(l.p99Ms, 1), failures: l.failures })),
            snippetVerified: e2e.snippet.verified,
            snippetRefusedWithoutGrant: e2e.snippet.refusedWithoutGrant,
          },
        }),
    ...(bundle === undefined
      ? {}
      : {
          bundle: {
            target: bundle.target,
            bytes: bundle.bytes,
            gzipBytes: bundle.gzipBytes,
            sourceMapBytes: bundle.sourceMapBytes,
            coldImportMs: round(bundle.coldImportMs, 1),
            coldImportNoSourceMapsMs: round(bundle.coldImportNoSourceMapsMs, 1),
            processMs: round(bundle.processMs, 1),
            emptyProcessMs: round(bundle.emptyProcessMs, 1),
            coldImportToEmptyProcess: round(bundle.coldImportMs / bundle.emptyProcessMs),
            coldImportCpuMs: round(bundle.coldImportCpuMs, 1),
            emptyProcessCpuMs: round(bundle.emptyProcessCpuMs, 1),
            functionBytes: bundle.functionBytes,
          },
        }),
    ...(history === undefined
      ? {}
      : {
          history: {
            rounds: history.rounds,
            rows: history.rows.map((r) => ({
              name: r.name,
              ledgerEvents: r.ledgerEvents,
              windowsPerScope: r.windowsPerScope,
              newestEventBytes: r.newestEventBytes,
              checkFreshUs: round(r.checkFreshUs, 1),
              checkSpreadUs: round(r.checkSpreadUs, 1),
              handlerMs: round(r.handlerMs),
              readMs: round(r.readMs),
              ratios: Object.fromEntries(Object.entries(r.ratios).map(([k, v]) => [k, round(v)])),
            })),
          },
        }),
    ok: problems.length === 0,
  };
  log(`RESULT ${JSON.stringify(result)}\n`);
  if (problems.length > 0) process.exitCode = 1;
}

await main();
