// Local DynamoDB for the local stack: dynalite on 127.0.0.1, persisted under `.local/dynamodb`,
// with the ledger table created on first start (same key schema as the CDK table).
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { PrincipalCredentials } from './principals.js';

/** dynalite ships no types; this is the part of its API the local stack uses. */
type DynaliteFactory = (options: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

export interface LocalDynamoDbOptions {
  /** LevelDB directory, e.g. `.local/dynamodb`. */
  readonly dataDir: string;
  /** Tables to create if absent, each keyed by `pk`/`sk` strings as in the CDK app: the consent ledger and the ingest batch claims. */
  readonly tables: readonly string[];
  readonly region: string;
  /** Credentials used to create the table. dynalite does not check signatures, but the SDK needs some. */
  readonly credentials: PrincipalCredentials;
  /** @default 0 - any free port */
  readonly port?: number;
}

export interface LocalDynamoDb {
  readonly url: string;
  close(): Promise<void>;
}

export async function startLocalDynamoDb(options: LocalDynamoDbOptions): Promise<LocalDynamoDb> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;
  // Table state changes are instant: a local start must not wait out dynalite's 500 ms CREATING phase.
  const server = dynalite({ path: options.dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      // dynalite's close waits for pending LevelDB work and then closes the database (and its lock).
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    });
  try {
    for (const table of options.tables) await ensureTable(url, table, options);
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  return { url, close };
}

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
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // CONVENTIONS: dynalite answers CreateTable before the table is ACTIVE.
    await waitUntilTableExists({ client, maxWaitTime: 10, minDelay: 0.05, maxDelay: 0.2 }, { TableName: table });
  } finally {
    client.destroy();
  }
}
