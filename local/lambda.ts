// A local Lambda Invoke endpoint: `POST /2015-03-31/functions/{name}/invocations`, the REST
// protocol the SDK's LambdaClient speaks, so one function can invoke another as in AWS. Every call
// is SigV4-verified as a local principal and authorized with IAM (`lambda:InvokeFunction` on the
// function's ARN, from the identity policies the template gives the principal's role).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authorizeAccess, deniedMessage, PrincipalDirectory, requestContext } from './iam/authorizer.js';
import { BodyTooLargeError, readLimitedBody } from './iam/proxy.js';
import { systemClock, type Clock } from './kms/clock.js';
import { KmsException } from './kms/errors.js';
import { verifySigV4 } from './kms/sigv4.js';
import type { LocalIdentity, LocalPrincipal } from './principals.js';
import { FunctionInvocationError } from './functions.js';
import { keepIdleConnections } from './keep-alive.js';

/** Lambda's limit on a synchronous request's payload. */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;

export interface LocalLambdaOptions {
  readonly identity: LocalIdentity;
  /** Local function name → the runner's name for it. Only these can be invoked. */
  readonly functions: Readonly<Record<string, string>>;
  /** Runs one invocation (local/functions.ts `invoke`). */
  readonly invoke: (runnerName: string, event: unknown) => Promise<unknown>;
  /** @default - the wall clock */
  readonly clock?: Clock;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Internal faults (never payloads). @default - stderr */
  readonly onNote?: (line: string) => void;
}

export interface LocalLambda {
  readonly url: string;
  /** The ARN AWS would give a local function. */
  functionArn(localName: string): string;
  close(): Promise<void>;
}

class LambdaError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/?]+)\/invocations(?:\?.*)?$/;

/** Lambda's failure types for an invocation that produced no result, as `X-Amz-Function-Error: Unhandled` carries them. */
function unhandledOf(error: FunctionInvocationError): { errorType: string; errorMessage: string } {
  switch (error.failure) {
    case 'timeout':
      return { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out' };
    case 'handler-error':
      // The type, never the message: a handler's message may carry what it was handling.
      return { errorType: error.errorType ?? 'Error', errorMessage: 'The function returned an error' };
    default:
      return { errorType: 'Runtime.ExitError', errorMessage: 'The runtime exited before answering' };
  }
}

export async function startLocalLambda(options: LocalLambdaOptions): Promise<LocalLambda> {
  const { identity } = options;
  const directory = new PrincipalDirectory(identity);
  const clock = options.clock ?? systemClock;
  const note = options.onNote ?? ((m: string) => process.stderr.write(`local-lambda: ${m}\n`));
  const functionArn = (localName: string): string => `arn:aws:lambda:${identity.region}:${identity.account}:function:${localName}`;

  /** A function name, a full ARN or a partial ARN (`account:function:name`), as Invoke accepts; no qualifier. */
  function localNameOf(raw: string): string {
    const name = decodeURIComponent(raw);
    const arn = /^arn:aws:lambda:([a-z0-9-]+):(\d{12}):function:([\w-]+)$/.exec(name);
    const partial = /^(\d{12}):function:([\w-]+)$/.exec(name);
    const [region, account, local] = arn ? [arn[1], arn[2], arn[3]] : partial ? [identity.region, partial[1], partial[2]] : [identity.region, identity.account, name];
    if (region !== identity.region || account !== identity.account || local === undefined || !Object.hasOwn(options.functions, local)) {
      throw new LambdaError('ResourceNotFoundException', `Function not found: ${functionArn(name.slice(0, 140))}`, 404);
    }
    return local;
  }

  function authenticate(req: IncomingMessage, body: Buffer): LocalPrincipal {
    const verified = verifySigV4({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body }, directory.secretOf, { now: clock.now() });
    if (verified.service !== 'lambda') throw new KmsException('InvalidSignatureException', `Credential should be scoped to correct service: 'lambda'.`);
    if (verified.region !== identity.region) throw new KmsException('InvalidSignatureException', `Credential should be scoped to a valid region, not '${verified.region.slice(0, 32)}'.`);
    const principal = directory.principalOf(verified.accessKeyId);
    if (!principal) throw new KmsException('UnrecognizedClientException', 'The security token included in the request is invalid.');
    return principal;
  }

  function authorize(principal: LocalPrincipal, localName: string): void {
    const request = { principal, action: 'lambda:InvokeFunction', resource: functionArn(localName), context: requestContext(principal, identity.region, clock.now()) };
    const decision = authorizeAccess(request);
    if (!decision.allowed) throw new LambdaError('AccessDeniedException', deniedMessage(request, decision), 403);
  }

  function respond(res: ServerResponse, requestId: string, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': requestId,
      ...headers,
    });
    res.end(body);
  }

  function respondError(res: ServerResponse, requestId: string, error: LambdaError): void {
    respond(res, requestId, error.status, JSON.stringify({ Type: error.status >= 500 ? 'Service' : 'User', Message: error.message }), { 'x-amzn-errortype': error.type });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      const match = req.method === 'POST' ? INVOKE_PATH.exec(req.url ?? '') : null;
      if (!match?.[1]) throw new LambdaError('UnsupportedOperation', 'The local Lambda endpoint serves Invoke only (POST /2015-03-31/functions/{name}/invocations).', 400);
      let body: Buffer;
      try {
        body = await readLimitedBody(req, MAX_INVOKE_PAYLOAD_BYTES);
      } catch (error) {
        if (error instanceof BodyTooLargeError) throw new LambdaError('RequestTooLargeException', `Request must be smaller than ${MAX_INVOKE_PAYLOAD_BYTES} bytes for the InvokeFunction operation`, 413);
        throw error;
      }
      let principal: LocalPrincipal;
      try {
        principal = authenticate(req, body);
      } catch (error) {
        if (error instanceof KmsException) throw new LambdaError(error.type, error.message, error.type === 'IncompleteSignatureException' ? 400 : 403);
        throw error;
      }
      const localName = localNameOf(match[1]);
      // As in AWS: permission first (on the ARN the name resolves to), then the request's shape.
      authorize(principal, localName);
      const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      if (type === 'DryRun') return respond(res, requestId, 204, '');
      if (type !== 'RequestResponse') throw new LambdaError('InvalidParameterValueException', `The local Lambda endpoint runs RequestResponse and DryRun invocations only, not ${type.slice(0, 32)}.`, 400);
      let event: unknown;
      try {
        event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        throw new LambdaError('InvalidRequestContentException', 'Could not parse request body into json', 400);
      }
      const headers = { 'x-amz-executed-version': '$LATEST' };
      let result: unknown;
      try {
        result = await options.invoke(options.functions[localName] as string, event);
      } catch (error) {
        if (!(error instanceof FunctionInvocationError)) throw error;
        // Lambda answers 200 and flags the failure; the SDK surfaces it as FunctionError.
        return respond(res, requestId, 200, JSON.stringify(unhandledOf(error)), { ...headers, 'x-amz-function-error': 'Unhandled' });
      }
      return respond(res, requestId, 200, JSON.stringify(result === undefined ? null : result), headers);
    } catch (error) {
      if (error instanceof LambdaError) return respondError(res, requestId, error);
      note(`internal error: ${error instanceof Error ? error.name : 'unknown'}`);
      return respondError(res, requestId, new LambdaError('ServiceException', 'The service encountered an internal error.', 500));
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  keepIdleConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    functionArn,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
