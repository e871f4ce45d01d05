// Local S3 for the local stack: s3rver on 127.0.0.1, storing objects under `.local/s3`, with the
// captures and exports buckets created on first start. It runs in a child process (see
// local/s3-process.ts for why) that exits with this one.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PrincipalCredentials } from './principals.js';
import type { S3ProcessReply, S3ProcessRequest } from './s3-process.js';

export interface LocalS3Options {
  /** Object directory, e.g. `.local/s3`. */
  readonly directory: string;
  /** Buckets to create if absent. */
  readonly buckets: readonly string[];
  /** Every principal's access key, so s3rver accepts their requests (it does not check signatures or policies). */
  readonly principals: readonly PrincipalCredentials[];
  /** @default 0 - any free port */
  readonly port?: number;
  /** @default 10_000 */
  readonly startTimeoutMs?: number;
}

export interface LocalS3 {
  readonly url: string;
  close(): Promise<void>;
}

/** s3rver's ListObjectsV2 continuation tokens are DES-encrypted; OpenSSL 3 has DES only in its legacy provider. */
const S3_PROCESS_FLAGS = ['--openssl-legacy-provider'];

function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  mkdirSync(options.directory, { recursive: true, mode: 0o700 });
  const script = fileURLToPath(new URL('./s3-process.ts', import.meta.url));
  const child = fork(script, [], {
    execArgv: ['--import', tsxLoaderUrl(), ...S3_PROCESS_FLAGS],
    // s3rver is silenced; stderr is kept only to explain a failed start.
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production' },
    serialization: 'json',
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  try {
    const port = await waitForReady(child, options, () => stderr);
    return { url: `http://127.0.0.1:${port}`, close: () => stopChild(child) };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

function waitForReady(child: ChildProcess, options: LocalS3Options, stderr: () => string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 10_000;
    const timer = setTimeout(() => fail(`local S3 did not start within ${timeoutMs} ms`), timeoutMs);
    function done(): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', fail);
    }
    function fail(reason: unknown): void {
      done();
      const detail = stderr().trim();
      const message = reason instanceof Error ? reason.message : String(reason);
      reject(new Error(`local S3 failed to start: ${message}${detail === '' ? '' : `\n${detail}`}`));
    }
    function onMessage(message: S3ProcessReply): void {
      if (message.type === 'ready') {
        done();
        resolve(message.port);
      } else {
        fail(message.message);
      }
    }
    function onExit(code: number | null, signal: NodeJS.Signals | null): void {
      fail(`s3 process exited (${signal ?? `code ${code}`})`);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.once('error', fail);
    const start: S3ProcessRequest = {
      type: 'start',
      directory: options.directory,
      buckets: options.buckets,
      credentials: options.principals.map(({ accessKeyId, secretAccessKey }) => ({ accessKeyId, secretAccessKey })),
      port: options.port ?? 0,
    };
    child.send(start);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    if (child.connected) child.send({ type: 'close' } satisfies S3ProcessRequest);
    else child.kill('SIGTERM');
  });
}
