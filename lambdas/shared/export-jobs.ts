// Export jobs in DynamoDB: one `export#<exportId>` item per export (status, counts, where the
// file is) and one `running` lock item per employee, taken with a condition so two concurrent
// requests start one export. The consent function creates and reads jobs; the export worker moves
// them to running, ready or failed and releases the lock.
import { GetCommand, PutCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EXPORT_LIFE_MS } from '../../contract/export-expiry.js';
import type { ExportStatus } from '../../contract/export-format.js';
import type { Scope } from './consent-model.js';
import { isAwsError } from './errors.js';

const JOB_PREFIX = 'export#';
const LOCK_SK = 'running';
/** Job items outlive the export file (S3 expires it after a day) by a day, then TTL removes them. */
const JOB_TTL_SECONDS = 2 * 24 * 60 * 60;
/**
 * A lock no worker released (it died in every attempt) lapses after this: the export's longest
 * life, longer than the queue's receives times its visibility timeout (3 × 6 × 900 s = 4.5 h).
 * The hourly export sweep ends a job still unfinished then and revokes its grant.
 */
export const LOCK_MS = EXPORT_LIFE_MS;

export interface ExportCounts {
  readonly events: Partial<Record<Scope, number>>;
  readonly objects: number;
  readonly unreadable: number;
}

export interface ExportJobRecord {
  readonly employeeId: string;
  readonly exportId: string;
  readonly status: ExportStatus;
  readonly requestedAt: string;
  readonly keyArn?: string;
  readonly grantId?: string;
  readonly attempts?: number;
  readonly completedAt?: string;
  readonly counts?: ExportCounts;
  readonly fileKey?: string;
  readonly manifestKey?: string;
  readonly sha256?: string;
  /** Why it failed, in a sentence for the employee (never an AWS message). */
  readonly reason?: string;
}

export function jobSortKey(exportId: string): string {
  return `${JOB_PREFIX}${exportId}`;
}

export class ExportJobs {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Takes the employee's lock for `exportId`: succeeds when there is none, when it lapsed, or when
   * it still names `staleExportId` (a job already finished whose worker did not release it).
   */
  async lock(employeeId: string, exportId: string, now: Date, staleExportId?: string): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: employeeId, sk: LOCK_SK, exportId, until: now.getTime() + LOCK_MS, expiresAt: ttl(now.getTime() + LOCK_MS) },
          ConditionExpression: `attribute_not_exists(sk) OR #until < :now${staleExportId === undefined ? '' : ' OR exportId = :stale'}`,
          ExpressionAttributeNames: { '#until': 'until' },
          ExpressionAttributeValues: { ':now': now.getTime(), ...(staleExportId === undefined ? {} : { ':stale': staleExportId }) },
        }),
      );
      return true;
    } catch (error) {
      if (isAwsError(error, 'ConditionalCheckFailedException')) return false;
      throw error;
    }
  }

  /** The export the lock names, while it holds. */
  async locked(employeeId: string, now: Date): Promise<string | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: employeeId, sk: LOCK_SK }, ConsistentRead: true }));
    if (Item === undefined || typeof Item['exportId'] !== 'string' || typeof Item['until'] !== 'number' || Item['until'] < now.getTime()) return undefined;
    return Item['exportId'];
  }

  /** Releases the lock if `exportId` still holds it (a later export may hold it already). */
  async unlock(employeeId: string, exportId: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: employeeId, sk: LOCK_SK },
          UpdateExpression: 'SET #until = :zero',
          ConditionExpression: 'exportId = :id',
          ExpressionAttributeNames: { '#until': 'until' },
          ExpressionAttributeValues: { ':zero': 0, ':id': exportId },
        }),
      );
    } catch (error) {
      if (!isAwsError(error, 'ConditionalCheckFailedException')) throw error;
    }
  }

  async create(job: ExportJobRecord): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: job.employeeId, sk: jobSortKey(job.exportId), ...job, expiresAt: ttl(Date.parse(job.requestedAt)) + JOB_TTL_SECONDS },
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
  }

  /**
   * Every export job not yet ready or failed (the export sweep's read). A Scan: the table holds
   * only the last two days of exports (TTL), and the sweep runs hourly.
   */
  async unfinished(): Promise<ExportJobRecord[]> {
    const jobs: ExportJobRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'begins_with(sk, :prefix) AND #status IN (:queued, :running)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':prefix': JOB_PREFIX, ':queued': 'queued', ':running': 'running' },
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        }),
      );
      for (const item of page.Items ?? []) {
        // Whose job and which export come from the item's key, never from its attributes: an item
        // whose `employeeId` or `exportId` names another employee's live export (a table writer's
        // forgery) must not point the sweep at that export's grant or job.
        const { pk, sk, expiresAt: _ttl, ...job } = item;
        if (typeof pk !== 'string' || typeof sk !== 'string' || !sk.startsWith(JOB_PREFIX)) continue;
        jobs.push({ ...(job as ExportJobRecord), employeeId: pk, exportId: sk.slice(JOB_PREFIX.length) });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return jobs;
  }

  /** The job, looked up under the employee's own partition: another employee's id finds nothing. */
  async get(employeeId: string, exportId: string): Promise<ExportJobRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: employeeId, sk: jobSortKey(exportId) }, ConsistentRead: true }));
    if (Item === undefined) return undefined;
    const { pk: _pk, sk: _sk, expiresAt: _ttl, ...job } = Item;
    return job as ExportJobRecord;
  }

  /**
   * Sets fields of a job whose status is one of `from`; false when it is not (another attempt
   * finished it). Undefined values are left out.
   */
  async update(employeeId: string, exportId: string, from: readonly ExportStatus[], changes: Partial<Omit<ExportJobRecord, 'employeeId' | 'exportId'>>, options: { countAttempt?: boolean } = {}): Promise<boolean> {
    const entries = Object.entries(changes).filter(([, value]) => value !== undefined);
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = {};
    const sets = entries.map(([key, value], i) => {
      names[`#f${i}`] = key;
      values[`:v${i}`] = value;
      return `#f${i} = :v${i}`;
    });
    if (options.countAttempt === true) {
      names['#attempts'] = 'attempts';
      values[':one'] = 1;
      values[':zero'] = 0;
      sets.push('#attempts = if_not_exists(#attempts, :zero) + :one');
    }
    from.forEach((status, i) => (values[`:from${i}`] = status));
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: employeeId, sk: jobSortKey(exportId) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(sk) AND #status IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isAwsError(error, 'ConditionalCheckFailedException')) return false;
      throw error;
    }
  }
}

function ttl(ms: number): number {
  return Math.floor(ms / 1000);
}
