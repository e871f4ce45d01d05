// Starts the whole local stack in-process on a temporary `.local` directory with a free API port,
// and hands out what tests need: tokens from the local issuer, HTTP calls to the API, SDK clients
// signing as each local principal, the functions' log lines, and a poll-with-deadline helper.
//
// How a test file uses it, so that the suite stays fast (about a second of CPU per stack start):
// - start ONE stack per file, before its tests: `const stack = useTestStack()` from
//   consent-api.ts (or startTestStack in beforeAll, closed in afterAll), never one per test;
// - give each test its own employee ids, so tests share the stack without sharing state;
// - wait with pollUntil (or the local queue's `idle`) on a state, never on a fixed delay, and hold
//   a race open with a fixture's gate (a file the test writes), as export-faults.test.ts does;
// - the functions run as esbuild bundles, cached under node_modules/.cache (local/function-bundles.ts),
//   except in coverage runs, which load the .ts files through tsx.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AdjustableClock } from '../../local/kms/clock.js';
import type { PrincipalName } from '../../local/principals.js';
import { startLocalStack, type LocalStack, type LocalStackFile, type LocalStackOptions } from '../../local/stack.js';
import { readTrail, type TrailRecord } from './local-kms.js';
import { LOCAL_REQUEST_HANDLER } from '../../local/keep-alive.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

export interface TestStackOptions {
  /** Reuse a directory (to restart a stack); it is then never deleted. @default - a new temporary directory */
  readonly localDir?: string;
  /** Handler or environment overrides, e.g. `{ consent: { entry: 'test/fixtures/echo-handler.ts' } }`. */
  readonly functions?: LocalStackOptions['functions'];
  readonly clock?: AdjustableClock;
  /** @default - 20 ms doubling, at most 500 ms, so retries and dead-lettering take well under a second */
  readonly queueRetryDelayMs?: (receiveCount: number) => number;
  /** Also print function logs (they are always captured). @default - true when LOCAL_STACK_LOGS=1 */
  readonly printLogs?: boolean;
  /** The built portal to serve at `/`. @default - portal/dist */
  readonly portalDir?: string;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON (throws if it is not JSON). */
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  readonly token?: string;
  /** An object is sent as JSON. */
  readonly body?: string | Buffer | Record<string, unknown> | unknown[];
  readonly headers?: Readonly<Record<string, string>>;
}

export interface TestStack {
  readonly stack: LocalStack;
  readonly api: string;
  readonly stackFile: LocalStackFile;
  readonly localDir: string;
  readonly clock: AdjustableClock;
  /** A token for the local issuer: `sub` = employeeId, `scope` = the scopes, valid for ttlSeconds (≤ 0: already expired). */
  token(employeeId: string, scopes: string | readonly string[], ttlSeconds?: number): Promise<string>;
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  kms(principal: PrincipalName): KMSClient;
  /** forcePathStyle and requestChecksumCalculation 'WHEN_REQUIRED', as s3rver needs. */
  s3(principal: PrincipalName): S3Client;
  dynamodb(principal: PrincipalName): DynamoDBClient;
  documents(principal: PrincipalName): DynamoDBDocumentClient;
  sqs(principal: PrincipalName): SQSClient;
  /** Lines the functions logged so far (all functions, or one). */
  logs(functionName?: string): string[];
  /** Request lines and internal faults noted by the stack. */
  notes(): string[];
  /** Every CloudTrail-shaped record the local KMS wrote so far, oldest first. */
  trail(): TrailRecord[];
  /** Stops everything; the directory is deleted unless it was given or `keepFiles` is set. */
  close(options?: { keepFiles?: boolean }): Promise<void>;
}

const fastRetries = (receiveCount: number): number => Math.min(500, 20 * 2 ** (receiveCount - 1));

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const localDir = options.localDir ?? mkdtempSync(join(tmpdir(), 'cc-stack-'));
  const logs: { fn: string; line: string }[] = [];
  const notes: string[] = [];
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      localDir,
      port: 0,
      clock: options.clock ?? new AdjustableClock(),
      queueRetryDelayMs: options.queueRetryDelayMs ?? fastRetries,
      ...(options.functions === undefined ? {} : { functions: options.functions }),
      ...(options.portalDir === undefined ? {} : { portalDir: options.portalDir }),
      onFunctionLog: (fn, stream, line) => {
        logs.push({ fn, line });
        if (options.printLogs ?? process.env['LOCAL_STACK_LOGS'] === '1') (stream === 'stdout' ? process.stdout : process.stderr).write(`[${fn}] ${line}\n`);
      },
      onNote: (line) => notes.push(line),
    });
  } catch (error) {
    if (options.localDir === undefined) rmSync(localDir, { recursive: true, force: true });
    throw error;
  }
  const { identity } = stack;
  const clients: { destroy(): void }[] = [];
  const credentialsOf = (principal: PrincipalName): { accessKeyId: string; secretAccessKey: string } => {
    const { accessKeyId, secretAccessKey } = identity.principals[principal];
    return { accessKeyId, secretAccessKey };
  };
  const track = <T extends { destroy(): void }>(client: T): T => {
    clients.push(client);
    return client;
  };
  const common = (principal: PrincipalName) => ({ region: identity.region, credentials: credentialsOf(principal), maxAttempts: 1, requestHandler: LOCAL_REQUEST_HANDLER });

  return {
    stack,
    api: stack.api,
    stackFile: stack.stackFile,
    localDir,
    clock: stack.clock,
    token: (employeeId, scopes, ttlSeconds = 300) =>
      stack.issuer.mint({ subject: employeeId, scope: typeof scopes === 'string' ? scopes : scopes.join(' '), ttlSeconds }),
    async request(method, path, { token, body, headers = {} } = {}) {
      const isJson = body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body);
      const response = await fetch(`${stack.api}${path}`, {
        method,
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(isJson ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body === undefined ? {} : { body: isJson ? JSON.stringify(body) : (body as string | Buffer) }),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, text, json: <T>() => JSON.parse(text) as T };
    },
    kms: (principal) => track(new KMSClient({ ...common(principal), endpoint: stack.endpoints.kms })),
    s3: (principal) =>
      track(new S3Client({ ...common(principal), endpoint: stack.endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' })),
    dynamodb: (principal) => track(new DynamoDBClient({ ...common(principal), endpoint: stack.endpoints.dynamodb })),
    documents: (principal) => {
      const client = track(new DynamoDBClient({ ...common(principal), endpoint: stack.endpoints.dynamodb }));
      return DynamoDBDocumentClient.from(client);
    },
    sqs: (principal) => track(new SQSClient({ ...common(principal), endpoint: stack.endpoints.sqs })),
    logs: (functionName) => logs.filter((l) => functionName === undefined || l.fn === functionName).map((l) => l.line),
    notes: () => [...notes],
    trail: () => readTrail(join(localDir, 'cloudtrail')),
    async close({ keepFiles = false } = {}) {
      for (const client of clients) client.destroy();
      await stack.close();
      if (!keepFiles && options.localDir === undefined) rmSync(localDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after the deadline. */
export async function pollUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10_000, intervalMs = 25, what = 'the condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
