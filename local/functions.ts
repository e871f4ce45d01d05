// Runs the Lambda handlers of the local stack, each in its own worker thread with its own
// environment (its role's credentials, endpoints and configuration), as its own Lambda would.
// A worker loads the handler module once (module-scope SDK clients and configuration, as in a
// Lambda sandbox) and serves invocations by message passing; a load failure stops the start-up.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { bundleFunction } from './function-bundles.js';

export interface FunctionSpec {
  readonly name: string;
  /** Absolute path of the handler module; it must export `handler`. */
  readonly entry: string;
  /** The function's whole environment: nothing of this process's environment leaks in. */
  readonly environment: Readonly<Record<string, string>>;
  /** @default 30_000 */
  readonly timeoutMs?: number;
  /** As the handler's context.memoryLimitInMB; the local stack does not limit memory. @default 512 */
  readonly memoryMb?: number;
  /** The function's ARN, as the handler's context.invokedFunctionArn. @default - a placeholder ARN */
  readonly arn?: string;
}

export interface LocalFunctionsOptions {
  readonly functions: readonly FunctionSpec[];
  /** Receives each line a function writes (its logs). @default - written to this process's stdout/stderr */
  readonly onLog?: (functionName: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** @default 20_000 */
  readonly startTimeoutMs?: number;
}

export type FunctionFailure = 'handler-error' | 'timeout' | 'crashed' | 'load-failed' | 'stopped';

/** An invocation that produced no result. The message is for logs; never send it to a client. */
export class FunctionInvocationError extends Error {
  override readonly name = 'FunctionInvocationError';
  constructor(
    readonly functionName: string,
    readonly failure: FunctionFailure,
    message: string,
    /** The handler's error type, for handler errors (`errorType` in Lambda's terms). */
    readonly errorType?: string,
  ) {
    super(message);
  }
}

export class FunctionStartError extends Error {
  override readonly name = 'FunctionStartError';
}

export interface LocalFunctions {
  readonly names: readonly string[];
  /** Invokes the handler with an event; resolves with its JSON result, as Lambda returns it. */
  invoke(name: string, event: unknown): Promise<unknown>;
  close(): Promise<void>;
}

interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

type ToWorker =
  | { type: 'invoke'; id: string; event: unknown; timeoutMs: number }
  | { type: 'ping' }
  | { type: 'write-coverage' };
type FromWorker =
  | { type: 'ready' }
  | { type: 'load-failed'; error: SerializedError }
  | { type: 'result'; id: string; ok: true; json: string }
  | { type: 'result'; id: string; ok: false; error: SerializedError }
  | { type: 'log'; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'pong' }
  | { type: 'coverage-written' };

/**
 * Set (to a directory) by the test suite's coverage run: each worker then records V8 precise
 * coverage of the handler's code and writes it there when the stack closes. A worker is its own
 * V8 isolate, so neither vitest's inspector session nor NODE_V8_COVERAGE (read from the worker's
 * own `env`) sees it. The files hold the script source V8 ran (tsx's output, with its source map)
 * next to the counts, so they can be mapped back to the .ts files.
 */
export const WORKER_COVERAGE_DIR_ENV = 'LOCAL_FUNCTIONS_V8_COVERAGE_DIR';

/**
 * The worker's bootstrap, as CommonJS source (eval worker): it registers tsx for the handler's module
 * tree only, loads the handler, and answers invocations with a Lambda-like context.
 */
const BOOTSTRAP = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
process.setSourceMapsEnabled(true);
// Logs travel on the same port as results, so every line an invocation logged reaches the
// parent before its result does (worker stdio has its own channel, with no ordering across).
for (const stream of ['stdout', 'stderr']) {
  process[stream].write = (chunk, encoding, callback) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    parentPort.postMessage({ type: 'log', stream, text });
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(done);
    return true;
  };
}
const serialize = (e) => ({
  name: e && typeof e === 'object' && typeof e.name === 'string' ? e.name : 'Error',
  message: e && typeof e === 'object' && 'message' in e ? String(e.message) : String(e),
  stack: e && typeof e === 'object' && typeof e.stack === 'string' ? e.stack : undefined,
});
const { functionName, functionArn, memoryLimitInMB, coverageDir } = workerData;
function startCoverage() {
  const { Session } = require('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  const started = post('Profiler.enable')
    .then(() => post('Profiler.startPreciseCoverage', { callCount: true, detailed: true }))
    // The Debugger domain is what hands out a script's source by id.
    .then(() => post('Debugger.enable'));
  async function write() {
    const { result } = await post('Profiler.takePreciseCoverage');
    const scripts = [];
    for (const entry of result) {
      if (!entry.url.startsWith('file://') || entry.url.includes('/node_modules/')) continue;
      const { scriptSource } = await post('Debugger.getScriptSource', { scriptId: entry.scriptId });
      scripts.push({ url: entry.url, functions: entry.functions, source: scriptSource });
    }
    const { threadId } = require('node:worker_threads');
    const file = require('node:path').join(coverageDir, 'worker-' + process.pid + '-' + threadId + '-' + Date.now() + '.json');
    require('node:fs').writeFileSync(file, JSON.stringify({ result: scripts }));
  }
  return { started, write };
}
const coverage = coverageDir ? startCoverage() : undefined;
function contextFor(id, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB,
    awsRequestId: id,
    logGroupName: '/aws/lambda/' + functionName,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {}, fail() {}, succeed() {},
  };
}
// A bundle (function-bundles.ts) is plain ESM; without one (coverage runs), tsx loads the .ts tree.
const load = workerData.bundle
  ? () => import(workerData.bundle)
  : () => import(workerData.tsxApi).then(({ tsImport }) => tsImport(workerData.entry, workerData.entry));
Promise.resolve(coverage && coverage.started).then(load).then(
  (mod) => {
    const handler = mod.handler ?? (mod.default && mod.default.handler);
    if (typeof handler !== 'function') {
      parentPort.postMessage({ type: 'load-failed', error: { name: 'Runtime.HandlerNotFound', message: workerData.entry + ' does not export a function named handler' } });
      return;
    }
    parentPort.on('message', (message) => {
      if (message.type === 'ping') return parentPort.postMessage({ type: 'pong' });
      if (message.type === 'write-coverage') {
        const written = coverage ? coverage.write() : Promise.resolve();
        return written.then(
          () => parentPort.postMessage({ type: 'coverage-written' }),
          (error) => parentPort.postMessage({ type: 'log', stream: 'stderr', text: 'coverage not written: ' + serialize(error).message + '\\n' }),
        );
      }
      const { id, event, timeoutMs } = message;
      Promise.resolve()
        .then(() => handler(event, contextFor(id, timeoutMs)))
        .then(
          // Lambda returns the JSON of the result; undefined becomes null.
          (result) => parentPort.postMessage({ type: 'result', id, ok: true, json: JSON.stringify(result === undefined ? null : result) }),
          (error) => parentPort.postMessage({ type: 'result', id, ok: false, error: serialize(error) }),
        )
        .catch((error) => parentPort.postMessage({ type: 'result', id, ok: false, error: serialize(error) }));
    });
    parentPort.postMessage({ type: 'ready' });
  },
  (error) => parentPort.postMessage({ type: 'load-failed', error: serialize(error) }),
);
`;

/** tsx's ESM API (its CommonJS build cannot be required from an eval worker), via its exports map. */
function tsxApiUrl(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> }).exports;
  const target = exports['./esm/api']?.import?.default;
  if (target === undefined) throw new Error(`tsx at ${dirname(manifest)} has no ESM API export (./esm/api)`);
  return pathToFileURL(join(dirname(manifest), target)).href;
}

/** A short, useful account of a load failure: the message and the first frames. */
function describeLoadError(spec: FunctionSpec, error: SerializedError): string {
  const frames = (error.stack ?? '')
    .split('\n')
    .slice(1)
    .filter((line) => line.trim().startsWith('at ') && !line.includes('node:internal') && !line.includes('/node_modules/tsx/'))
    .slice(0, 3)
    .join('\n');
  return `function ${spec.name} failed to load ${spec.entry}: ${error.name}: ${error.message}${frames === '' ? '' : `\n${frames}`}`;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One function's worker, recreated (a cold start) after it crashes or is stopped for hanging. */
class FunctionRunner {
  private worker: Worker | undefined;
  private ready: Promise<Worker> | undefined;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private lastExit = '';

  constructor(
    readonly spec: FunctionSpec,
    private readonly onLog: NonNullable<LocalFunctionsOptions['onLog']>,
    private readonly startTimeoutMs: number,
  ) {}

  start(): Promise<Worker> {
    this.ready ??= this.spawn();
    return this.ready;
  }

  private async spawn(): Promise<Worker> {
    const { spec } = this;
    // A TypeScript handler runs as one esbuild bundle, as Lambda runs it, except in coverage runs:
    // coverage maps each module's own tsx output back to its .ts file. A .js/.mjs entry (a bundle
    // already) is loaded as it is.
    let bundle: string | undefined;
    if (spec.entry.endsWith('.ts') && process.env[WORKER_COVERAGE_DIR_ENV] === undefined) {
      try {
        bundle = await bundleFunction(spec.entry);
      } catch (error) {
        throw new FunctionStartError(`function ${spec.name} failed to load ${spec.entry}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (this.closed) throw new FunctionStartError(`function ${spec.name}: stopped`);
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      env: { ...spec.environment },
      // Nothing from this process's flags (its own tsx loader, test runner flags) reaches the handler.
      execArgv: [],
      stdout: true,
      stderr: true,
      workerData: {
        entry: pathToFileURL(spec.entry).href,
        bundle: bundle === undefined ? undefined : pathToFileURL(bundle).href,
        tsxApi: bundle === undefined ? tsxApiUrl() : undefined,
        functionName: spec.environment['AWS_LAMBDA_FUNCTION_NAME'] ?? spec.name,
        functionArn: spec.arn ?? `arn:aws:lambda:us-east-1:000000000000:function:${spec.name}`,
        memoryLimitInMB: String(spec.memoryMb ?? 512),
        coverageDir: process.env[WORKER_COVERAGE_DIR_ENV],
      },
    });
    this.worker = worker;
    this.pipeLines(worker.stdout, 'stdout');
    this.pipeLines(worker.stderr, 'stderr');
    return new Promise<Worker>((resolve, reject) => {
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new FunctionStartError(`function ${spec.name} did not load ${spec.entry} within ${this.startTimeoutMs} ms`));
      }, this.startTimeoutMs);
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve(worker);
        } else if (message.type === 'load-failed') {
          clearTimeout(timer);
          void worker.terminate();
          reject(new FunctionStartError(describeLoadError(spec, message.error)));
        } else if (message.type === 'result') {
          this.settle(message);
        } else if (message.type === 'log') {
          this.logLines(message.stream, message.text);
        }
      });
      worker.on('error', (error) => {
        // An uncaught exception or unhandled rejection: the runtime dies, as Lambda's would.
        this.lastExit = `${error.name}: ${error.message}`;
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        this.flushLogs();
        if (this.worker === worker) {
          this.worker = undefined;
          this.ready = undefined;
        }
        const reason = this.closed ? 'stopped' : `the runtime exited (code ${code}${this.lastExit === '' ? '' : `, ${this.lastExit}`})`;
        reject(new FunctionStartError(`function ${spec.name}: ${reason}`));
        this.failAll(this.closed ? 'stopped' : 'crashed', reason);
        this.lastExit = '';
      });
    });
  }

  private readonly partial = { stdout: '', stderr: '' };

  /** Splits what the handler wrote into lines; a line without its newline waits for the rest. */
  private logLines(stream: 'stdout' | 'stderr', text: string): void {
    let buffer = this.partial[stream] + text;
    let at: number;
    while ((at = buffer.indexOf('\n')) !== -1) {
      this.onLog(this.spec.name, stream, buffer.slice(0, at));
      buffer = buffer.slice(at + 1);
    }
    this.partial[stream] = buffer;
  }

  private flushLogs(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.onLog(this.spec.name, stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  /** Whatever bypasses the patched process.stdout/stderr (the worker's raw stdio streams). */
  private pipeLines(stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr'): void {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      let at: number;
      while ((at = buffer.indexOf('\n')) !== -1) {
        this.onLog(this.spec.name, name, buffer.slice(0, at));
        buffer = buffer.slice(at + 1);
      }
    });
    stream.on('end', () => {
      if (buffer !== '') this.onLog(this.spec.name, name, buffer);
      buffer = '';
    });
  }

  async invoke(event: unknown): Promise<unknown> {
    if (this.closed) throw new FunctionInvocationError(this.spec.name, 'stopped', `function ${this.spec.name} is stopped`);
    let worker: Worker;
    try {
      worker = await this.start();
    } catch (error) {
      throw new FunctionInvocationError(this.spec.name, 'load-failed', error instanceof Error ? error.message : String(error));
    }
    const id = randomUUID();
    const timeoutMs = this.spec.timeoutMs ?? 30_000;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FunctionInvocationError(this.spec.name, 'timeout', `function ${this.spec.name} timed out after ${timeoutMs} ms`));
        this.checkAlive(worker);
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const message: ToWorker = { type: 'invoke', id, event, timeoutMs };
      worker.postMessage(message);
    });
  }

  /** After a timeout: a worker whose event loop is stuck cannot serve anyone; replace it. */
  private checkAlive(worker: Worker): void {
    const timer = setTimeout(() => void worker.terminate(), 2_000);
    const onPong = (message: FromWorker): void => {
      if (message.type !== 'pong') return;
      clearTimeout(timer);
      worker.off('message', onPong);
    };
    worker.on('message', onPong);
    worker.postMessage({ type: 'ping' } satisfies ToWorker);
  }

  private writeCoverage(worker: Worker): Promise<void> {
    return writeCoverageOf(worker, this.ready);
  }

  private settle(message: Extract<FromWorker, { type: 'result' }>): void {
    const pending = this.pending.get(message.id);
    if (!pending) return; // timed out already
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) {
      pending.resolve(JSON.parse(message.json) as unknown);
    } else {
      pending.reject(new FunctionInvocationError(this.spec.name, 'handler-error', `${message.error.name}: ${message.error.message}`, message.error.name));
    }
  }

  private failAll(failure: FunctionFailure, reason: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new FunctionInvocationError(this.spec.name, failure, `function ${this.spec.name}: ${reason}`));
      this.pending.delete(id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (worker && process.env[WORKER_COVERAGE_DIR_ENV] !== undefined) await this.writeCoverage(worker);
    if (worker) await worker.terminate();
    this.failAll('stopped', 'stopped');
  }
}

/** Asks a loaded worker to write its coverage (see WORKER_COVERAGE_DIR_ENV); gives up after 10 s. */
async function writeCoverageOf(worker: Worker, ready: Promise<Worker> | undefined): Promise<void> {
  if (ready === undefined || (await ready.then(() => true, () => false)) === false) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, 10_000);
    function done(): void {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', done);
      resolve();
    }
    function onMessage(message: FromWorker): void {
      if (message.type === 'coverage-written') done();
    }
    worker.on('message', onMessage);
    worker.on('exit', done);
    worker.postMessage({ type: 'write-coverage' } satisfies ToWorker);
  });
}

function defaultLog(_functionName: string, stream: 'stdout' | 'stderr', line: string): void {
  (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`);
}

/** Starts every function's worker at once; rejects, stopping them all, if any fails to load. */
export async function startLocalFunctions(options: LocalFunctionsOptions): Promise<LocalFunctions> {
  const runners = new Map(
    options.functions.map((spec) => [spec.name, new FunctionRunner(spec, options.onLog ?? defaultLog, options.startTimeoutMs ?? 20_000)]),
  );
  const started = await Promise.allSettled([...runners.values()].map((runner) => runner.start()));
  const failures = started.flatMap((result) => (result.status === 'rejected' ? [result.reason instanceof Error ? result.reason.message : String(result.reason)] : []));
  if (failures.length > 0) {
    await Promise.all([...runners.values()].map((runner) => runner.close()));
    throw new FunctionStartError(failures.join('\n'));
  }
  return {
    names: [...runners.keys()],
    invoke(name, event) {
      const runner = runners.get(name);
      if (!runner) return Promise.reject(new FunctionInvocationError(name, 'load-failed', `no local function named ${name}`));
      return runner.invoke(event);
    },
    async close() {
      await Promise.all([...runners.values()].map((runner) => runner.close()));
    },
  };
}
