// Training datasets in DynamoDB: a `dataset#<id>` / `dataset` item (request, status, counts, where
// the manifest is) and an `employee#<employeeId>` / `dataset#<id>` membership item per employee in
// it, so an employee's own datasets are one Query. The consent function records requests and reads
// them; the datasets worker writes memberships and moves statuses.
import { GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DatasetStatus } from '../../contract/dataset-manifest.js';
import type { DatasetCounts } from '../../contract/datasets.js';
import type { Scope } from './consent-model.js';
import { isAwsError } from './errors.js';

const DATASET_SK = 'dataset';
const DATASET_PREFIX = 'dataset#';
const EMPLOYEE_PREFIX = 'employee#';

export interface DatasetRecord {
  readonly datasetId: string;
  readonly status: DatasetStatus;
  readonly scopes: readonly Scope[];
  readonly from: string;
  readonly to: string;
  readonly purpose: string;
  readonly minEmployees: number;
  readonly createdAt: string;
  readonly expiresAt: string;
  /** Who asked: the token's issuer and subject (the ML platform's client, never an employee's data). */
  readonly requestedBy: { readonly issuer: string; readonly subject: string };
  readonly counts?: DatasetCounts;
  readonly manifest?: { readonly bucket: string; readonly key: string; readonly card: string; readonly cardMarkdown: string };
  readonly completedAt?: string;
  readonly expiredAt?: string;
  /** Why it failed, in a sentence for the requester (never an AWS message). */
  readonly reason?: string;
}

export interface DatasetMembership {
  readonly employeeId: string;
  readonly datasetId: string;
  readonly purpose: string;
  /** This employee's scopes in the dataset: those granted when it was built. */
  readonly scopes: readonly Scope[];
  readonly createdAt: string;
  readonly expiresAt: string;
}

export class DatasetsStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async create(record: DatasetRecord): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `${DATASET_PREFIX}${record.datasetId}`, sk: DATASET_SK, ...record },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(datasetId: string): Promise<DatasetRecord | undefined> {
    const result = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: `${DATASET_PREFIX}${datasetId}`, sk: DATASET_SK }, ConsistentRead: true }));
    if (result.Item === undefined) return undefined;
    const { pk: _pk, sk: _sk, ...record } = result.Item;
    return record as DatasetRecord;
  }

  /** Moves a dataset from one of `from` to `status` with `fields`; false when it was in another status. */
  async update(datasetId: string, from: readonly DatasetStatus[], status: DatasetStatus, fields: Readonly<Record<string, unknown>> = {}): Promise<boolean> {
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = { ':status': status };
    const sets = ['#status = :status'];
    for (const [i, [name, value]] of Object.entries(fields).entries()) {
      names[`#f${i}`] = name;
      values[`:f${i}`] = value;
      sets.push(`#f${i} = :f${i}`);
    }
    from.forEach((s, i) => (values[`:from${i}`] = s));
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `${DATASET_PREFIX}${datasetId}`, sk: DATASET_SK },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(pk) AND #status IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
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

  async addMember(membership: DatasetMembership): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `${EMPLOYEE_PREFIX}${membership.employeeId}`, sk: `${DATASET_PREFIX}${membership.datasetId}`, ...membership },
      }),
    );
  }

  /** The datasets an employee is part of, newest first. */
  async membershipsOf(employeeId: string): Promise<DatasetMembership[]> {
    const out: DatasetMembership[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': `${EMPLOYEE_PREFIX}${employeeId}`, ':prefix': DATASET_PREFIX },
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        }),
      );
      for (const item of page.Items ?? []) {
        const { pk: _pk, sk: _sk, ...membership } = item;
        out.push(membership as DatasetMembership);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Members of a dataset, for the sweeper (a Scan: sweeps are hourly and datasets few). */
  async membersOf(datasetId: string): Promise<DatasetMembership[]> {
    return (await this.scan('sk = :sk AND begins_with(pk, :prefix)', { ':sk': `${DATASET_PREFIX}${datasetId}`, ':prefix': EMPLOYEE_PREFIX })) as unknown as DatasetMembership[];
  }

  /** Ready (or failed-with-grants) datasets whose expiry has passed. */
  async expiredBy(now: Date): Promise<DatasetRecord[]> {
    return (await this.scan('sk = :sk AND #status IN (:ready, :building) AND expiresAt <= :now', {
      ':sk': DATASET_SK,
      ':ready': 'ready',
      ':building': 'building',
      ':now': now.toISOString(),
    }, { '#status': 'status' })) as unknown as DatasetRecord[];
  }

  private async scan(filter: string, values: Record<string, unknown>, names?: Record<string, string>): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: filter,
          ExpressionAttributeValues: values,
          ...(names === undefined ? {} : { ExpressionAttributeNames: names }),
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        }),
      );
      for (const item of page.Items ?? []) {
        const { pk: _pk, sk: _sk, ...rest } = item;
        out.push(rest);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return out;
  }
}
