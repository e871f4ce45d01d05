// POST /v1/exports and GET /v1/exports/{exportId}: start an employee's export (job, ledger event,
// a one-off Decrypt grant from the key steward, a queued job) and report on it, with presigned
// download URLs once it is ready. The worker that does the export is lambdas/export.
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { exportFileKeys, type ExportStatus } from '../../contract/export-format.js';
import type { ExportJob } from '../../contract/jobs.js';
import type { Actor } from '../shared/consent-state.js';
import { ConflictError, ConsentStateUnavailableError, NotFoundError } from '../shared/errors.js';
import type { ExportJobs, ExportJobRecord } from '../shared/export-jobs.js';
import { ID_PATTERN } from '../shared/ids.js';
import { InvalidLedgerEventError, type Ledger } from '../shared/ledger.js';
import { appendRestating } from '../shared/restating-append.js';
import type { KeyStewardPort } from './steward-client.js';

/** How long a download URL works: long enough to start a download, short enough not to be shared around. */
export const DOWNLOAD_URL_SECONDS = 15 * 60;

/**
 * The one thing an export needs from the key steward: a Decrypt grant to the export role,
 * retirable by it, constrained to EncryptionContextSubset {employeeId}, named after the export.
 */
export type ExportGrantMinter = Pick<KeyStewardPort, 'exportGrant'>;

export interface ExportRequestsDeps {
  readonly ledger: Ledger;
  readonly jobs: ExportJobs;
  readonly grants: ExportGrantMinter;
  readonly sqs: SQSClient;
  readonly exportQueueUrl: string;
  /** Signs download URLs as this function's role, which may GetObject under exports/ only. */
  readonly s3: S3Client;
  readonly exportsBucket: string;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export interface ExportStatusBody {
  readonly exportId: string;
  readonly status: ExportStatus;
  readonly requestedAt: string;
  readonly completedAt?: string;
  readonly counts?: ExportJobRecord['counts'];
  readonly url?: string;
  readonly manifestUrl?: string;
  readonly expiresAt?: string;
  readonly reason?: string;
}

const FINISHED: readonly ExportStatus[] = ['ready', 'failed'];

export class ExportRequests {
  private readonly now: () => Date;

  constructor(private readonly deps: ExportRequestsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Starts an export, or answers the one already running. Works whatever the consent (active,
   * paused, withdrawn) as long as the data is not erased: the key must still exist to decrypt.
   */
  async request(employeeId: string, actor: Actor): Promise<{ exportId: string; status: ExportStatus }> {
    const { jobs, logger } = this.deps;
    const keyArn = await this.exportableKey(employeeId);
    const now = this.now();
    const holder = await this.lockHolder(employeeId, now);
    if (holder.active !== undefined) return holder.active;

    const exportId = `x-${randomUUID()}`;
    const requestedAt = now.toISOString();
    // The job first, then the lock: a lock always names a job that exists.
    await jobs.create({ employeeId, exportId, status: 'queued', requestedAt, keyArn });
    if (!(await jobs.lock(employeeId, exportId, now, holder.stale))) {
      await jobs.update(employeeId, exportId, ['queued'], { status: 'failed', reason: 'another export was already running' });
      // Another request took the lock between our read and our write: answer its export.
      const winner = await this.lockHolder(employeeId, now);
      if (winner.active !== undefined) return winner.active;
      throw new ConflictError('another export request is being started; retry in a moment', 'export-starting');
    }
    try {
      const recorded = await appendRestating(this.deps.ledger, employeeId, {
        kind: 'export-requested',
        actor,
        details: { exportId },
        allowedIn: ['active', 'paused', 'revoked'],
        at: now,
      });
      if (!recorded.appended) throw erased();
      // One call on the steward: it reads the consent itself and mints a grant for this export alone.
      const grant = await this.deps.grants.exportGrant(employeeId, exportId);
      await jobs.update(employeeId, exportId, ['queued'], { grantId: grant.grantId });
      const job: ExportJob = { employeeId, exportId, keyArn, grantId: grant.grantId, grantToken: grant.grantToken };
      await this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.exportQueueUrl, MessageBody: JSON.stringify(job) }));
    } catch (error) {
      // The employee sees a failed export and may ask again; the lock must not hold them off.
      await jobs.update(employeeId, exportId, ['queued'], { status: 'failed', reason: 'the export could not be started; please ask again' }).catch(() => false);
      await jobs.unlock(employeeId, exportId).catch(() => undefined);
      logger.error('export could not be started', { employeeId, exportId, cause: error instanceof Error ? error.name : typeof error });
      throw error;
    }
    logger.info('export requested', { employeeId, exportId });
    return { exportId, status: 'queued' };
  }

  /** The export's status, looked up under the caller's own id: another employee's export is not found. */
  async status(employeeId: string, exportId: string): Promise<ExportStatusBody> {
    if (!ID_PATTERN.test(exportId)) throw notFound();
    const job = await this.deps.jobs.get(employeeId, exportId);
    if (job === undefined) throw notFound();
    const body: ExportStatusBody = {
      exportId,
      status: job.status,
      requestedAt: job.requestedAt,
      ...(job.completedAt === undefined ? {} : { completedAt: job.completedAt }),
      ...(job.counts === undefined ? {} : { counts: job.counts }),
      ...(job.status === 'failed' && job.reason !== undefined ? { reason: job.reason } : {}),
    };
    if (job.status !== 'ready' || job.fileKey === undefined || job.manifestKey === undefined) return body;
    const expiresAt = new Date(this.now().getTime() + DOWNLOAD_URL_SECONDS * 1000).toISOString();
    // The keys are the caller's own export's, never the ones the item stores: every writer of the
    // table (the export worker, and the steward role's export sweep, whose UpdateItem can set any
    // attribute) could otherwise point an employee's download at another employee's file.
    const keys = exportFileKeys(employeeId, exportId);
    const [url, manifestUrl] = await Promise.all([this.presign(keys.file), this.presign(keys.manifest)]);
    return { ...body, url, manifestUrl, expiresAt };
  }

  private presign(key: string): Promise<string> {
    return getSignedUrl(this.deps.s3, new GetObjectCommand({ Bucket: this.deps.exportsBucket, Key: key }), { expiresIn: DOWNLOAD_URL_SECONDS });
  }

  /** The employee's key, if there is data to export; 409 when there never was or it is erased. */
  private async exportableKey(employeeId: string): Promise<string> {
    let latest;
    try {
      latest = await this.deps.ledger.latestEvent(employeeId);
    } catch (error) {
      if (error instanceof InvalidLedgerEventError) {
        throw new ConsentStateUnavailableError('the consent record cannot be read; an operator has been alerted', { cause: error });
      }
      throw error;
    }
    const state = latest?.state;
    if (state?.status === 'purging' || state?.status === 'purged') throw erased();
    if (state === undefined || state.keyArn === undefined) {
      throw new ConflictError('there is nothing to export: consent was never given, so nothing was captured', 'nothing-to-export');
    }
    return state.keyArn;
  }

  /**
   * What the lock says: the export still under way (`active`), or an export that finished but
   * whose worker could not release the lock (`stale`): the next lock may replace that one.
   */
  private async lockHolder(employeeId: string, now: Date): Promise<{ active?: { exportId: string; status: ExportStatus }; stale?: string }> {
    const exportId = await this.deps.jobs.locked(employeeId, now);
    if (exportId === undefined) return {};
    const job = await this.deps.jobs.get(employeeId, exportId);
    if (job === undefined || FINISHED.includes(job.status)) return { stale: exportId };
    return { active: { exportId, status: job.status } };
  }
}

function erased(): ConflictError {
  return new ConflictError('this employee\'s data has been erased; there is nothing left to export', 'data-erased');
}

function notFound(): NotFoundError {
  return new NotFoundError('no such export');
}
