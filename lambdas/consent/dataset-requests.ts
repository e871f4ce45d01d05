// POST /v1/datasets, GET /v1/datasets/{datasetId} and GET /v1/consent/datasets: record a training
// dataset request (refused below its minimum number of consenting employees) and queue its build,
// report on it, and show an employee the datasets their own data is part of. The worker that
// builds (manifest, card, training grants) is lambdas/datasets.
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_MIN_EMPLOYEES, type DatasetJob, type DatasetRequestBody } from '../../contract/datasets.js';
import type { DatasetStatus } from '../../contract/dataset-manifest.js';
import type { Scope } from '../shared/consent-model.js';
import type { DatasetsStore } from '../shared/datasets-store.js';
import { NotFoundError, UnprocessableError } from '../shared/errors.js';
import { ID_PATTERN } from '../shared/ids.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface DatasetRequestsDeps {
  readonly store: DatasetsStore;
  /** The ledger's table, scanned for state items to count consenting employees. */
  readonly db: DynamoDBDocumentClient;
  readonly ledgerTable: string;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** Days a dataset lives before the sweeper retires its grants (at most 30). */
  readonly maxDays: number;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export interface Requester {
  readonly issuer: string;
  readonly subject: string;
}

export class DatasetRequests {
  private readonly now: () => Date;

  constructor(private readonly deps: DatasetRequestsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Records the request and queues its build. Refused (422) when any asked scope has fewer than
   * `minEmployees` employees consenting to it now: a scope is a part of the dataset on its own, and
   * one person's keystrokes beside ten people's clicks would single that person out. The worker
   * counts again from each employee's newest event and the objects found, and fails a dataset that
   * falls below the minimum there; this count is the early answer.
   */
  async create(requester: Requester, body: DatasetRequestBody): Promise<{ datasetId: string; status: DatasetStatus }> {
    const minEmployees = body.minEmployees ?? DEFAULT_MIN_EMPLOYEES;
    const consenting = await this.consentingCounts();
    const short = body.scopes.filter((scope) => (consenting.get(scope) ?? 0) < minEmployees);
    if (short.length > 0) {
      // No counts in the answer: how many people consent to a scope is not the caller's to learn in steps.
      throw new UnprocessableError(`fewer than ${minEmployees} employees consent to ${short.join(', ')}; a dataset must cover at least ${minEmployees} employees in every scope`, 'too-few-employees');
    }
    const now = this.now();
    const datasetId = `d-${randomUUID()}`;
    await this.deps.store.create({
      datasetId,
      status: 'building',
      scopes: [...body.scopes],
      from: new Date(body.from).toISOString(),
      to: new Date(body.to).toISOString(),
      purpose: body.purpose,
      minEmployees,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.deps.maxDays * DAY_MS).toISOString(),
      requestedBy: { issuer: requester.issuer, subject: requester.subject },
    });
    const job: DatasetJob = { kind: 'build', datasetId };
    try {
      await this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.queueUrl, MessageBody: JSON.stringify(job) }));
    } catch (error) {
      await this.deps.store.update(datasetId, ['building'], 'failed', { reason: 'the build could not be queued; ask again' });
      throw error;
    }
    this.deps.logger.info('dataset requested', { datasetId, scopes: body.scopes, minEmployees });
    return { datasetId, status: 'building' };
  }

  async status(datasetId: string): Promise<Record<string, unknown>> {
    const record = ID_PATTERN.test(datasetId) ? await this.deps.store.get(datasetId) : undefined;
    if (record === undefined) throw new NotFoundError('no such dataset');
    const { datasetId: id, status, purpose, scopes, from, to, createdAt, expiresAt, counts, manifest, reason } = record;
    return { datasetId: id, status, purpose, scopes, from, to, createdAt, expiresAt, ...(counts ? { counts } : {}), ...(manifest ? { manifest } : {}), ...(reason ? { reason } : {}) };
  }

  /** The caller's own datasets: purpose, their scopes in it, dates and the dataset's status now. */
  async forEmployee(employeeId: string): Promise<{ datasets: Record<string, unknown>[] }> {
    // A membership without scopes: considered for a dataset, granted nothing (consent changed during the build).
    const memberships = (await this.deps.store.membershipsOf(employeeId)).filter((m) => m.scopes.length > 0);
    const datasets = await Promise.all(
      memberships.map(async (m) => {
        const record = await this.deps.store.get(m.datasetId);
        const expired = Date.parse(m.expiresAt) <= this.now().getTime();
        const status: DatasetStatus = record?.status === 'expired' || expired ? 'expired' : (record?.status ?? 'ready');
        return { datasetId: m.datasetId, purpose: m.purpose, scopes: m.scopes, createdAt: m.createdAt, expiresAt: m.expiresAt, status };
      }),
    );
    return { datasets };
  }

  /** Employees whose cached state says active or paused, per scope (a Scan of the ledger's state items). */
  private async consentingCounts(): Promise<Map<Scope, number>> {
    const counts = new Map<Scope, number>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.deps.db.send(
        new ScanCommand({
          TableName: this.deps.ledgerTable,
          FilterExpression: 'sk = :state AND #status IN (:active, :paused)',
          ProjectionExpression: 'scopes',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':state': 'state', ':active': 'active', ':paused': 'paused' },
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        }),
      );
      for (const item of page.Items ?? []) {
        const scopes = Array.isArray(item['scopes']) ? (item['scopes'] as unknown[]) : [];
        for (const scope of new Set(scopes)) if (typeof scope === 'string') counts.set(scope as Scope, (counts.get(scope as Scope) ?? 0) + 1);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return counts;
  }
}
