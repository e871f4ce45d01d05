// `npm run resync-keys -- --table <LedgerTableName> --queue-url <KeySyncQueueUrl> [--rate 15] [--dry-run]`
// Queues a key-sync job for every employee, so every employee key policy is written again with the
// roles the functions run as now. Runs with the operator's own AWS credentials (the standard
// environment); see docs/runbook.md, "When a role must change".
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { resyncKeys } from './resync.js';

const USAGE = 'usage: npm run resync-keys -- --table <LedgerTableName> --queue-url <KeySyncQueueUrl> [--rate <jobs per second, default 15>] [--dry-run]';

function usageError(message: string): never {
  process.stderr.write(`resync-keys: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: { table?: string; 'queue-url'?: string; rate?: string; 'dry-run'?: boolean };
try {
  ({ values } = parseArgs({
    options: { table: { type: 'string' }, 'queue-url': { type: 'string' }, rate: { type: 'string', default: '15' }, 'dry-run': { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  usageError(error instanceof Error ? error.message : 'bad arguments');
}
const table = values.table;
const queueUrl = values['queue-url'];
const rate = Number(values.rate);
if (table === undefined || table === '') usageError('--table is required (the stack output LedgerTableName)');
if (queueUrl === undefined || !/^https?:\/\//.test(queueUrl)) usageError('--queue-url is required (the stack output KeySyncQueueUrl)');
if (!Number.isFinite(rate) || rate <= 0 || rate > 15) usageError(`--rate must be above 0 and at most 15 (KMS's PutKeyPolicy quota per second), got ${JSON.stringify(values.rate)}`);

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
try {
  const report = await resyncKeys({ db, sqs, table, queueUrl, ratePerSecond: rate, dryRun: values['dry-run'] === true, progress: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`done: ${report.queued} queued, ${report.skipped} skipped. Watch the key-sync queue's oldest-job and dead-letter alarms until it drains.\n`);
} catch (error) {
  process.stderr.write(`resync-keys: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exitCode = 1;
} finally {
  db.destroy();
  sqs.destroy();
}
