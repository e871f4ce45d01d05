// Local DynamoDB for the local stack: dynalite on 127.0.0.1, persisted under `.local/dynamodb`,
// with the ledger table created on first start (same key schema as the CDK table). Callers reach
// it only through a front that verifies SigV4 and authorizes each call with IAM, as AWS does;
// dynalite itself checks neither.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException, waitUntilTableExists, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { authorizeAccess, deniedMessage, PrincipalDirectory, requestContext } from './iam/authorizer.js';
import { DYNAMODB_TARGET_PREFIX, dynamoDbAccessOf } from './iam/dynamodb-access.js';
import { BodyTooLargeError, Forwarder, readLimitedBody } from './iam/proxy.js';
import { systemClock, type Clock } from './kms/clock.js';
import { SigV4Error, verifySigV4 } from './kms/sigv4.js';
import type { LocalIdentity, PrincipalCredentials } from './principals.js';
import { keepIdleConnections } from './keep-alive.js';

/** dynalite ships no types; this is the part of its API the local stack uses. */
type DynaliteFactory = (options: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

export interface LocalDynamoDbOptions {
  /** LevelDB directory, e.g. `.local/dynamodb`. */
  readonly dataDir: string;
  /** Tables to create if absent, each keyed by `pk`/`sk` strings as in the CDK app: the consent ledger and the ingest batch claims. */
  readonly tables: readonly string[];
  readonly region: string;
  /** Credentials used to create the tables, straight on dynalite (behind the front), before the front opens. */
  readonly credentials: PrincipalCredentials;
  /** The principals the front authenticates and authorizes. */
  readonly identity: LocalIdentity;
  /** For aws:CurrentTime. @default - the system clock */
  readonly clock?: Clock;
  /** Receives the front's own faults (answered 500). @default - written to stderr */
  readonly onInternalError?: (message: string) => void;
  /** @default 0 - any free port */
  readonly port?: number;
}

export interface LocalDynamoDb {
  /** The front: SigV4 and IAM, then dynalite. */
  readonly url: string;
  /** dynalite itself, with no authentication: for the front, and for measuring the front's cost. */
  readonly unauthenticatedUrl: string;
  close(): Promise<void>;
}

/** Both tables are keyed by `pk` (partition) and `sk` (sort), as in the CDK app. */
const HASH_KEY = 'pk';
/** DynamoDB's largest request (a 25-item BatchWriteItem of 400 KB items) is about 16 MB. */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

export async function startLocalDynamoDb(options: LocalDynamoDbOptions): Promise<LocalDynamoDb> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;
  // Table state changes are instant: a local start must not wait out dynalite's 500 ms CREATING phase.
  const server = dynalite({ path: options.dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const dynaliteUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closeDynalite = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      // dynalite's close waits for pending LevelDB work and then closes the database (and its lock).
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    });
  let front: Server | undefined;
  try {
    for (const table of options.tables) await ensureTable(dynaliteUrl, table, options);
    front = await startFront(dynaliteUrl, options);
  } catch (error) {
    await closeDynalite().catch(() => undefined);
    throw error;
  }
  const frontServer = front;
  return {
    url: `http://127.0.0.1:${(frontServer.address() as AddressInfo).port}`,
    unauthenticatedUrl: dynaliteUrl,
    close: async () => {
      await new Promise<void>((resolve) => {
        frontServer.close(() => resolve());
        frontServer.closeAllConnections();
      });
      await closeDynalite();
    },
  };
}

/** An error answered in DynamoDB's JSON shape (AWS JSON 1.0): `__type` and a message. */
class DynamoDbError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    /** Coral's own errors (authentication, AccessDenied) spell the field `Message`. */
    readonly messageField: 'message' | 'Message' = 'message',
  ) {
    super(message);
  }
}

function fromSigV4(error: SigV4Error): DynamoDbError {
  return new DynamoDbError(`com.amazon.coral.service#${error.type}`, error.message, 400, 'Message');
}

function startFront(upstream: string, options: LocalDynamoDbOptions): Promise<Server> {
  const { identity } = options;
  const clock = options.clock ?? systemClock;
  const directory = new PrincipalDirectory(identity);
  const forwarder = new Forwarder(upstream);
  const scope = { region: identity.region, account: identity.account, hashKeyOf: (table: string) => (options.tables.includes(table) ? HASH_KEY : undefined) };

  function answer(res: ServerResponse, error: DynamoDbError): void {
    const payload = JSON.stringify({ __type: error.type, [error.messageField]: error.message });
    res.writeHead(error.status, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(payload);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readLimitedBody(req, MAX_REQUEST_BYTES);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      res.setHeader('connection', 'close');
      return answer(res, new DynamoDbError('com.amazon.coral.validate#ValidationException', `Request size exceeds ${MAX_REQUEST_BYTES} bytes`, 413));
    }
    let accessKeyId: string;
    try {
      const caller = verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body }, directory.secretOf);
      if (caller.service !== 'dynamodb') throw new SigV4Error('mismatch', 'InvalidSignatureException', `Credential should be scoped to correct service: 'dynamodb'.`);
      if (caller.region !== identity.region) {
        throw new SigV4Error('mismatch', 'InvalidSignatureException', `Credential should be scoped to a valid region, not '${caller.region.slice(0, 32)}'.`);
      }
      accessKeyId = caller.accessKeyId;
    } catch (error) {
      if (error instanceof SigV4Error) return answer(res, fromSigV4(error));
      throw error;
    }
    const principal = directory.principalOf(accessKeyId);
    if (!principal) return answer(res, new DynamoDbError('com.amazon.coral.service#UnrecognizedClientException', 'The security token included in the request is invalid.'));
    const target = String(req.headers['x-amz-target'] ?? '');
    if (req.method !== 'POST' || !target.startsWith(DYNAMODB_TARGET_PREFIX) || !/^[A-Za-z]{1,64}$/.test(target.slice(DYNAMODB_TARGET_PREFIX.length))) {
      return answer(res, new DynamoDbError('com.amazon.coral.service#UnknownOperationException', 'The requested operation is not recognized.'));
    }
    const operation = target.slice(DYNAMODB_TARGET_PREFIX.length);
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return answer(res, new DynamoDbError('com.amazon.coral.service#SerializationException', 'Start of structure or map found where not expected.'));
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return answer(res, new DynamoDbError('com.amazon.coral.service#SerializationException', 'The request body must be a JSON object.'));
    }
    const base = requestContext(principal, identity.region, clock.now());
    const accesses = dynamoDbAccessOf(operation, input as Record<string, unknown>, scope);
    // A batch naming no table still needs the action itself (dynalite then refuses the batch).
    for (const access of accesses.length === 0 ? [{ action: `dynamodb:${operation}`, resource: '*', context: {} }] : accesses) {
      const request = { principal, action: access.action, resource: access.resource, context: { ...base, ...access.context } };
      const decision = authorizeAccess(request);
      if (!decision.allowed) {
        return answer(res, new DynamoDbError('com.amazon.coral.service#AccessDeniedException', deniedMessage(request, decision), 400, 'Message'));
      }
    }
    await forwarder.forward(req, body, res);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A fault of the front itself is the emulator's bug: reported, never shown to the caller.
      const message = `internal error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      if (options.onInternalError) options.onInternalError(message);
      else process.stderr.write(`local-dynamodb: ${message}\n`);
      if (res.headersSent) res.destroy();
      else answer(res, new DynamoDbError('com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error', 500));
    });
  });
  keepIdleConnections(server);
  server.on('close', () => forwarder.close());
  return new Promise<Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve(server));
  });
}

/** Every table of the application (lib/constructs): string `pk` and `sk`, on demand. */
export const TABLE_SHAPE = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  BillingMode: 'PAY_PER_REQUEST',
} as const satisfies Omit<CreateTableCommandInput, 'TableName'>;

async function ensureTable(endpoint: string, table: string, options: LocalDynamoDbOptions): Promise<void> {
  const { accessKeyId, secretAccessKey } = options.credentials;
  const client = new DynamoDBClient({ endpoint, region: options.region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 2 });
  try {
    try {
      await client.send(new DescribeTableCommand({ TableName: table }));
      return;
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    await client.send(
      new CreateTableCommand({
        TableName: table,
        ...TABLE_SHAPE,
      }),
    );
    // CONVENTIONS: dynalite answers CreateTable before the table is ACTIVE.
    await waitUntilTableExists({ client, maxWaitTime: 10, minDelay: 0.05, maxDelay: 0.2 }, { TableName: table });
  } finally {
    client.destroy();
  }
}
