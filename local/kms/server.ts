// The local KMS's HTTP front: AWS JSON 1.1 over loopback. It authenticates with SigV4, dispatches
// `X-Amz-Target: TrentService.<Op>`, and writes one CloudTrail-shaped record per authenticated call.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import type { LocalIdentity, LocalPrincipal } from '../principals.js';
import { systemClock, type Clock } from './clock.js';
import { KmsException } from './errors.js';
import { KeyStore } from './key-store.js';
import type { OperationContext, TrailNotes } from './operations/context.js';
import { OPERATIONS } from './operations/index.js';
import { verifySigV4 } from './sigv4.js';
import { CloudTrailWriter, type TrailIdentity } from './trail.js';
import { keepIdleConnections } from '../keep-alive.js';

export interface LocalKmsOptions {
  /** Directory for keys and aliases (mode 0700), e.g. `.local/kms`. */
  readonly stateDir: string;
  /** Directory for CloudTrail-shaped records, e.g. `.local/cloudtrail`. */
  readonly trailDir: string;
  readonly identity: LocalIdentity;
  /** @default - the system clock */
  readonly clock?: Clock;
  /** @default 0 - any free port */
  readonly port?: number;
  /** Called with a one-line summary of internal faults (never request payloads). @default - stderr */
  readonly onInternalError?: (message: string) => void;
}

export interface LocalKms {
  readonly url: string;
  readonly store: KeyStore;
  close(): Promise<void>;
}

/** KMS's largest request (a 32 KiB policy, or a 6 KiB ciphertext, JSON-escaped) fits well inside this. */
export const MAX_BODY_BYTES = 256 * 1024;
const TARGET_PREFIX = 'TrentService.';

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function identityOf(principal: LocalPrincipal): TrailIdentity {
  return {
    type: 'AssumedRole',
    arn: principal.sessionArn,
    principalId: `${principal.roleId}:${principal.roleName}-session`,
    accountId: principal.accountId,
    accessKeyId: principal.accessKeyId,
    sessionContext: {
      sessionIssuer: { type: 'Role', principalId: principal.roleId, arn: principal.arn, accountId: principal.accountId, userName: principal.roleName },
    },
  };
}

function valueAt(json: unknown, path: readonly PropertyKey[]): unknown {
  let value = json;
  for (const part of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

/** As AWS: a value of the wrong JSON type cannot be deserialized; a missing or out-of-range one fails validation. */
function zodToKms(error: z.ZodError, json: unknown): KmsException {
  const issues = error.issues.slice(0, 5).map((issue) => {
    const field = issue.path.map(String).join('.') || 'body';
    const missing = valueAt(json, issue.path) === undefined;
    return missing ? `Value null at '${field}' failed to satisfy constraint: Member must not be null` : `Value at '${field}' failed to satisfy constraint: ${issue.message}`;
  });
  const wrongType = error.issues.some((i) => i.code === 'invalid_type' && valueAt(json, i.path) !== undefined);
  const type = wrongType ? 'SerializationException' : 'ValidationException';
  return new KmsException(type, `${issues.length} validation error${issues.length === 1 ? '' : 's'} detected: ${issues.join('; ')}`);
}

export async function startLocalKms(options: LocalKmsOptions): Promise<LocalKms> {
  const clock = options.clock ?? systemClock;
  const { identity } = options;
  const store = new KeyStore(options.stateDir);
  const trail = new CloudTrailWriter(options.trailDir, clock, identity.account, identity.region, options.stateDir);
  const byAccessKey = new Map(Object.values(identity.principals).map((p) => [p.accessKeyId, p]));
  const reportInternal = options.onInternalError ?? ((m: string) => process.stderr.write(`local-kms: ${m}\n`));

  function respond(res: ServerResponse, requestId: string, status: number, body: unknown, errorType?: string): void {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': requestId,
      ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
    });
    res.end(payload);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const target = String(req.headers['x-amz-target'] ?? '');
    const operationName = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    const notes: TrailNotes = { requestParameters: null, responseElements: null, resources: [] };
    let principal: LocalPrincipal | undefined;
    let readOnly = true;
    try {
      let body: Buffer;
      try {
        body = await readBody(req);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          res.setHeader('connection', 'close');
          throw new KmsException('ValidationException', `The request body exceeds the maximum size of ${MAX_BODY_BYTES} bytes.`);
        }
        throw error;
      }
      const caller = verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body }, (id) =>
        byAccessKey.get(id)?.secretAccessKey,
      );
      if (caller.service !== 'kms') throw new KmsException('InvalidSignatureException', `Credential should be scoped to correct service: 'kms'.`);
      if (caller.region !== identity.region) {
        throw new KmsException('InvalidSignatureException', `Credential should be scoped to a valid region, not '${caller.region.slice(0, 32)}'.`);
      }
      principal = byAccessKey.get(caller.accessKeyId);
      if (!principal) throw new KmsException('UnrecognizedClientException', 'The security token included in the request is invalid.');
      if (req.method !== 'POST' || !target.startsWith(TARGET_PREFIX)) {
        throw new KmsException('UnknownOperationException', 'Requests must be POST with X-Amz-Target: TrentService.<Operation>.');
      }
      const operation = Object.hasOwn(OPERATIONS, operationName) ? OPERATIONS[operationName] : undefined;
      if (!operation) throw new KmsException('UnknownOperationException', `Unknown operation ${operationName.slice(0, 64)}`);
      readOnly = operation.readOnly;
      let json: unknown;
      try {
        json = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        throw new KmsException('SerializationException', 'Start of structure or map found where not expected, or the body is not valid JSON.');
      }
      if (json === null || typeof json !== 'object' || Array.isArray(json)) {
        throw new KmsException('SerializationException', 'The request body must be a JSON object.');
      }
      const parsed = operation.input.safeParse(json);
      if (!parsed.success) throw zodToKms(parsed.error, json);
      const ctx: OperationContext = { principal, identity, store, clock, trail: notes };
      const output = operation.handle(ctx, parsed.data);
      // Recorded before answered: no caller ever sees an answer that is not in the trail yet.
      writeTrail(principal);
      respond(res, requestId, 200, output);
    } catch (error) {
      const exception =
        error instanceof KmsException
          ? error
          : new KmsException('KMSInternalException', 'The request was rejected because an internal exception occurred.', 500);
      if (!(error instanceof KmsException)) {
        reportInternal(`${operationName.slice(0, 64)} failed: ${error instanceof Error ? error.name + ': ' + error.message : 'unknown error'}`);
      }
      if (res.headersSent) throw error;
      // Only an authenticated call is a record: an unsigned or badly signed request would otherwise
      // put an event name, access key and user agent of its own choosing into the audit trail.
      if (principal) writeTrail(principal, exception);
      respond(res, requestId, exception.httpStatus, { __type: exception.type, message: exception.message }, exception.type);
    }

    function writeTrail(caller: LocalPrincipal, exception?: KmsException): void {
      trail.write({
        eventName: operationName.slice(0, 64) || 'Unknown',
        userIdentity: identityOf(caller),
        requestParameters: notes.requestParameters,
        responseElements: notes.responseElements,
        ...(exception === undefined ? {} : { errorCode: exception.type, errorMessage: exception.message }),
        resources: notes.resources,
        requestID: requestId,
        sourceIPAddress: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
        readOnly,
      });
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // Only a failure to write the response or the trail lands here; the connection is closed.
      reportInternal(`unhandled: ${error instanceof Error ? error.message : String(error)}`);
      res.destroy();
    });
  });
  keepIdleConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          trail.close();
          if (error) reject(error);
          else resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** Where the local KMS keeps its files under a `.local/` root. */
export function kmsPaths(localDir: string): { stateDir: string; trailDir: string; principalsFile: string } {
  return { stateDir: join(localDir, 'kms'), trailDir: join(localDir, 'cloudtrail'), principalsFile: join(localDir, 'principals.json') };
}
