// Local S3 for the local stack: s3rver on 127.0.0.1, storing objects under `.local/s3`, with the
// captures and exports buckets created on first start. It runs in a child process (see
// local/s3-process.ts for why) that exits with this one. Callers reach it only through a front in
// this process that verifies SigV4 (headers or presigned URLs) and authorizes each request with
// IAM (identity policies and bucket policies), as AWS does; s3rver itself checks neither.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { authorizeAccess, PrincipalDirectory, requestContext } from './iam/authorizer.js';
import { BodyTooLargeError, Forwarder, readLimitedBody } from './iam/proxy.js';
import { S3RequestError, s3AccessOf } from './iam/s3-access.js';
import { systemClock, type Clock } from './kms/clock.js';
import type { PolicyDocument } from './kms/policy-evaluator.js';
import { decodeUrl, SigV4Error, verifySigV4, type SigV4Failure } from './kms/sigv4.js';
import type { LocalIdentity } from './principals.js';
import type { S3ProcessReply, S3ProcessRequest } from './s3-process.js';
import { keepIdleConnections } from './keep-alive.js';

export interface LocalS3Options {
  /** Object directory, e.g. `.local/s3`. */
  readonly directory: string;
  /** Buckets to create if absent. */
  readonly buckets: readonly string[];
  /** The principals the front authenticates and authorizes. */
  readonly identity: LocalIdentity;
  /** Bucket policies by bucket name, evaluated with the identity policies. @default - none */
  readonly bucketPolicies?: Readonly<Record<string, PolicyDocument>>;
  /** For aws:CurrentTime. @default - the system clock */
  readonly clock?: Clock;
  /** Receives the front's own faults (answered 500 InternalError). @default - written to stderr */
  readonly onInternalError?: (message: string) => void;
  /** @default 0 - any free port */
  readonly port?: number;
  /** A loaded machine (a test suite's workers) can take 10 s to start a Node process. @default 30_000 */
  readonly startTimeoutMs?: number;
}

export interface LocalS3 {
  /** The front: SigV4 and IAM, then s3rver. */
  readonly url: string;
  /** s3rver itself, which checks no signature: for the front, and for measuring the front's cost. */
  readonly unauthenticatedUrl: string;
  close(): Promise<void>;
}

/** Larger than any capture batch or export locally; S3's own single-PUT limit is 5 GB. */
export const MAX_OBJECT_BYTES = 128 * 1024 * 1024;

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
  let port: number;
  try {
    port = await waitForReady(child, options, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const upstream = `http://127.0.0.1:${port}`;
  let front: Server;
  try {
    front = await startFront(upstream, options);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    unauthenticatedUrl: upstream,
    close: async () => {
      await new Promise<void>((resolve) => {
        front.close(() => resolve());
        front.closeAllConnections();
      });
      await stopChild(child);
    },
  };
}

/** S3's answers to a refused signature, by why it was refused. */
const SIGV4_FAILURES: Readonly<Record<SigV4Failure, readonly [code: string, status: number, message: string]>> = {
  // AWS evaluates an unsigned request as the anonymous principal; no policy here allows it.
  missing: ['AccessDenied', 403, 'Access Denied'],
  incomplete: ['AuthorizationHeaderMalformed', 400, 'The authorization header or query parameters are malformed.'],
  'unknown-key': ['InvalidAccessKeyId', 403, 'The AWS Access Key Id you provided does not exist in our records.'],
  mismatch: ['SignatureDoesNotMatch', 403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'],
  skewed: ['RequestTimeTooSkewed', 403, 'The difference between the request time and the current time is too large.'],
  expired: ['AccessDenied', 403, 'Request has expired'],
  'payload-hash': ['XAmzContentSHA256Mismatch', 400, "The provided 'x-amz-content-sha256' header does not match what was computed."],
  'unsigned-payload': ['InvalidRequest', 400, 'UNSIGNED-PAYLOAD is not accepted here.'],
  'streaming-payload': ['NotImplemented', 501, 'A header you provided implies functionality that is not implemented: aws-chunked streaming signatures are not supported by the local S3.'],
  'malformed-uri': ['InvalidURI', 400, "Couldn't parse the specified URI."],
};

const QUERY_SIGNATURE_PARAMS = /^X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Security-Token)=/i;

/** The URL with a presigned URL's SigV4 parameters removed, every other parameter kept as sent. */
function withoutQuerySignature(url: string): string {
  const at = url.indexOf('?');
  if (at === -1) return url;
  const kept = url
    .slice(at + 1)
    .split('&')
    .filter((pair) => pair !== '' && !QUERY_SIGNATURE_PARAMS.test(pair));
  return kept.length === 0 ? url.slice(0, at) : `${url.slice(0, at)}?${kept.join('&')}`;
}

function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/** A fault of the front itself is the emulator's bug: never swallowed, never shown to the caller. */
function reportInternalError(options: LocalS3Options, error: unknown): void {
  const message = `internal error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  if (options.onInternalError) options.onInternalError(message);
  else process.stderr.write(`local-s3: ${message}\n`);
}

function startFront(upstream: string, options: LocalS3Options): Promise<Server> {
  const { identity } = options;
  const clock = options.clock ?? systemClock;
  const directory = new PrincipalDirectory(identity);
  const forwarder = new Forwarder(upstream);
  const policies = options.bucketPolicies ?? {};

  function answer(req: IncomingMessage, res: ServerResponse, error: S3RequestError): void {
    const requestId = randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
    const payload =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${error.code}</Code><Message>${xmlEscape(error.message)}</Message><RequestId>${requestId}</RequestId><HostId>${randomBytes(24).toString('base64')}</HostId></Error>`;
    // A HEAD answer has no body; the status alone tells the SDK.
    const body = req.method === 'HEAD' ? '' : payload;
    res.writeHead(error.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': requestId });
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readLimitedBody(req, MAX_OBJECT_BYTES);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      res.setHeader('connection', 'close');
      return answer(req, res, new S3RequestError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', 400));
    }
    const url = req.url ?? '/';
    const now = clock.now();
    let caller;
    let decoded;
    try {
      caller = verifySigV4({ method: req.method ?? 'GET', url, headers: req.headers, body }, directory.secretOf, { s3: true });
      decoded = decodeUrl(url);
    } catch (error) {
      if (!(error instanceof SigV4Error)) throw error;
      const [code, status, message] = SIGV4_FAILURES[error.failure];
      return answer(req, res, new S3RequestError(code, message, status));
    }
    if (caller.service !== 's3' || caller.region !== identity.region) {
      const what = caller.service !== 's3' ? `the service '${caller.service.slice(0, 32)}' is wrong; expecting 's3'` : `the region '${caller.region.slice(0, 32)}' is wrong; expecting '${identity.region}'`;
      return answer(req, res, new S3RequestError('AuthorizationHeaderMalformed', `The authorization header is malformed; ${what}`));
    }
    const principal = directory.principalOf(caller.accessKeyId);
    if (!principal) {
      const [code, status, message] = SIGV4_FAILURES['unknown-key'];
      return answer(req, res, new S3RequestError(code, message, status));
    }
    let accesses;
    try {
      accesses = s3AccessOf({ method: req.method ?? 'GET', path: decoded.path, query: decoded.query, headers: req.headers, body });
    } catch (error) {
      if (error instanceof S3RequestError) return answer(req, res, error);
      throw error;
    }
    const base = {
      ...requestContext(principal, identity.region, now),
      's3:authType': caller.authType === 'query' ? 'REST-QUERY-STRING' : 'REST-HEADER',
      's3:signatureversion': 'AWS4-HMAC-SHA256',
      's3:signatureAge': String(Math.max(0, now.getTime() - caller.signedAt.getTime())),
      's3:x-amz-content-sha256': String(req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD'),
      // Stands for AWS's HTTPS endpoint, as aws:SecureTransport does (local/iam/authorizer.ts).
      's3:TlsVersion': '1.3',
    };
    for (const access of accesses) {
      const decision = authorizeAccess({
        principal,
        action: access.action,
        resource: access.resource,
        context: { ...base, ...access.context },
        ...(access.bucket !== undefined && Object.hasOwn(policies, access.bucket) ? { resourcePolicy: policies[access.bucket] } : {}),
      });
      // S3 says no more than "Access Denied": which action on which key is not told to the caller.
      if (!decision.allowed) return answer(req, res, new S3RequestError('AccessDenied', 'Access Denied', 403));
    }
    // s3rver gets an anonymous request: it has its own half-checks of signatures and presigned
    // expiry, and the front must be the only authority, so that its tests test it.
    await forwarder.forward(req, body, res, { strip: ['authorization'], path: withoutQuerySignature(url) });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      reportInternalError(options, error);
      if (res.headersSent) res.destroy();
      else answer(req, res, new S3RequestError('InternalError', 'We encountered an internal error. Please try again.', 500));
    });
  });
  keepIdleConnections(server);
  server.on('close', () => forwarder.close());
  return new Promise<Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve(server));
  });
}

function waitForReady(child: ChildProcess, options: LocalS3Options, stderr: () => string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 30_000;
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
      // Only the front listens where callers were told to go.
      port: 0,
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
