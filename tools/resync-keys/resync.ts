// Queues a key-sync job for every employee in the ledger, at a steady rate, so the key-sync worker
// writes every employee key policy again (the day a role named in them was replaced). Reads only
// ids, sequences and statuses; the worker reads the newest event itself.
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { KeySyncJob } from '../../contract/jobs.js';

export interface ResyncOptions {
  readonly db: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  /** The ledger table (stack output LedgerTableName). */
  readonly table: string;
  /** The key-sync queue (stack output KeySyncQueueUrl). */
  readonly queueUrl: string;
  /** Jobs queued per second: KMS allows 15 PutKeyPolicy per second per account and Region. */
  readonly ratePerSecond: number;
  /** List, count and queue nothing. @default false */
  readonly dryRun?: boolean;
  /** A line of progress (counts only). */
  readonly progress: (line: string) => void;
  /** @default - real time */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export interface ResyncReport {
  /** Employees with at least one ledger item. */
  readonly employees: number;
  readonly queued: number;
  /** Erased employees (`purged`): their keys are pending deletion or gone, nothing to write. */
  readonly skipped: number;
}

/** Every employee in the ledger with the newest cached sequence and status (a scan of keys and a few attributes). */
export async function listEmployees(db: DynamoDBDocumentClient, table: string): Promise<Map<string, { sequence: number; status?: string }>> {
  const employees = new Map<string, { sequence: number; status?: string }>();
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({
        TableName: table,
        ProjectionExpression: 'pk, sk, #sequence, #status',
        ExpressionAttributeNames: { '#sequence': 'sequence', '#status': 'status' },
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      }),
    );
    for (const item of page.Items ?? []) {
      const pk = item['pk'];
      if (typeof pk !== 'string') continue;
      const known = employees.get(pk) ?? { sequence: 0 };
      if (item['sk'] === 'state') {
        employees.set(pk, { sequence: Number(item['sequence'] ?? 0), ...(typeof item['status'] === 'string' ? { status: item['status'] } : {}) });
      } else if (!employees.has(pk)) {
        employees.set(pk, known);
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return employees;
}

export async function resyncKeys(options: ResyncOptions): Promise<ResyncReport> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const employees = await listEmployees(options.db, options.table);
  const jobs: KeySyncJob[] = [];
  let skipped = 0;
  for (const [employeeId, { sequence, status }] of employees) {
    if (status === 'purged') skipped += 1;
    else jobs.push({ employeeId, sequence });
  }
  const hours = jobs.length / options.ratePerSecond / 3600;
  options.progress(`${employees.size} employees in the ledger, ${jobs.length} to re-sync, ${skipped} erased and skipped; about ${hours < 1 ? `${Math.ceil(hours * 60)} min` : `${hours.toFixed(1)} h`} at ${options.ratePerSecond}/s`);
  if (options.dryRun === true) return { employees: employees.size, queued: 0, skipped };

  const started = now();
  let queued = 0;
  let reported = started;
  for (let i = 0; i < jobs.length; i += 10) {
    const batch = jobs.slice(i, i + 10);
    const answer = await options.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: options.queueUrl,
        Entries: batch.map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job) })),
      }),
    );
    if ((answer.Failed ?? []).length > 0) {
      throw new Error(`SQS refused ${answer.Failed?.length} of a batch after ${queued} queued (${answer.Failed?.[0]?.Code ?? 'unknown'}): run again, it is idempotent`);
    }
    queued += batch.length;
    // Pace to the rate: the batch's jobs are due at queued / rate seconds after the start.
    const due = started + (queued / options.ratePerSecond) * 1000;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    if (now() - reported >= 10_000 || queued === jobs.length) {
      reported = now();
      options.progress(`${queued}/${jobs.length} queued (${Math.round((queued / jobs.length) * 100)}%)`);
    }
  }
  return { employees: employees.size, queued, skipped };
}
