// Crypto-shreds one employee, then deletes their objects. Every step is idempotent, so a purge
// killed anywhere finishes when the job is delivered again:
//   1. (done by the consent function) the shredded key policy;
//   2. DisableKey: the data is unreadable from this moment;
//   3. ScheduleKeyDeletion;
//   4. delete every object under captures/{id}/ and exports/{id}/, 1,000 per DeleteObjects;
//   5. queue itself again, delayed: an ingest that passed its consent check just before the
//      erase may still be writing, and in AWS a key policy change takes up to minutes to apply;
//   6. on that second delivery, sweep again, then append a `purged` event with the counts and
//      the key's deletion date.
import type { Logger } from '@aws-lambda-powertools/logger';
import { DescribeKeyCommand, DisableKeyCommand, ScheduleKeyDeletionCommand, type KMSClient } from '@aws-sdk/client-kms';
import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { PurgeJob } from '../../contract/jobs.js';
import { CAPTURES_PREFIX, EXPORTS_PREFIX } from '../../contract/resources.js';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ConsentEvent, ConsentState } from '../shared/consent-state.js';
import { isAwsError } from '../shared/errors.js';
import { SequenceTakenError, type Ledger } from '../shared/ledger.js';

export interface PurgeDeps {
  readonly ledger: Ledger;
  readonly kms: KMSClient;
  readonly s3: S3Client;
  readonly capturesBucket: string;
  readonly exportsBucket: string;
  readonly keyDeletionDays: number;
  /** The purge queue, for the delayed second sweep. */
  readonly sqs: SQSClient;
  readonly purgeQueueUrl: string;
  /** Delay before the second sweep; 0 sweeps once. */
  readonly resweepSeconds: number;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export type PurgeOutcome = 'purged' | 'swept-once' | 'already-purged' | 'not-purging' | 'no-record';

export type { PurgeJob };

const MAX_APPEND_ATTEMPTS = 5;

export async function purgeEmployee(deps: PurgeDeps, job: PurgeJob): Promise<PurgeOutcome> {
  const { employeeId } = job;
  const latest = await deps.ledger.latestEvent(employeeId);
  if (!latest) return 'no-record';
  if (latest.state.status === 'purged') return 'already-purged';
  if (latest.state.status !== 'purging') {
    deps.logger.warn('purge job for an employee who is not being purged; dropping it', { employeeId, status: latest.state.status });
    return 'not-purging';
  }
  const deletionDate = latest.state.keyArn === undefined ? undefined : await shredKey(deps, latest.state.keyArn);
  const captures = (job.deleted?.captures ?? 0) + (await deletePrefix(deps, deps.capturesBucket, `${CAPTURES_PREFIX}${employeeId}/`));
  const exports = (job.deleted?.exports ?? 0) + (await deletePrefix(deps, deps.exportsBucket, `${EXPORTS_PREFIX}${employeeId}/`));
  if ((job.sweep ?? 1) === 1 && deps.resweepSeconds > 0) {
    const again: PurgeJob = { employeeId, sequence: job.sequence, sweep: 2, deleted: { captures, exports } };
    await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.purgeQueueUrl, MessageBody: JSON.stringify(again), DelaySeconds: deps.resweepSeconds }));
    deps.logger.info('first sweep done; second sweep queued', { employeeId, captures, exports, resweepSeconds: deps.resweepSeconds });
    return 'swept-once';
  }
  const details = {
    objectsDeleted: { captures, exports },
    ...(deletionDate === undefined ? {} : { keyDeletionDate: deletionDate }),
  };
  await recordPurged(deps, latest, details);
  deps.logger.info('employee purged', { employeeId, captures, exports, keyDeletionDate: deletionDate });
  return 'purged';
}

/** Disables the key and schedules its deletion; returns the deletion date (ISO). */
async function shredKey(deps: PurgeDeps, keyArn: string): Promise<string | undefined> {
  let metadata;
  try {
    metadata = (await deps.kms.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata;
  } catch (error) {
    // Deleted already: a purge retried after the waiting period. Nothing left to shred.
    if (isAwsError(error, 'NotFoundException')) return undefined;
    throw error;
  }
  if (metadata?.KeyState === 'PendingDeletion') return metadata.DeletionDate?.toISOString();
  if (metadata?.KeyState === 'Enabled') await deps.kms.send(new DisableKeyCommand({ KeyId: keyArn }));
  const scheduled = await deps.kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: deps.keyDeletionDays }));
  return scheduled.DeletionDate?.toISOString();
}

/** Deletes every object under `prefix`, a page of at most 1,000 at a time; returns the count. */
async function deletePrefix(deps: PurgeDeps, bucket: string, prefix: string): Promise<number> {
  let deleted = 0;
  // Always list from the start: the previous page is gone, so no continuation token is needed,
  // and a retried purge naturally resumes where it stopped.
  for (;;) {
    const page = await deps.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
    if (keys.length === 0) return deleted;
    const result = await deps.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    if (result.Errors !== undefined && result.Errors.length > 0) {
      throw new Error(`DeleteObjects failed for ${result.Errors.length} of ${keys.length} objects in ${bucket} (first: ${result.Errors[0]?.Code ?? 'unknown'})`);
    }
    deleted += keys.length;
    deps.logger.info('purge progress', { bucket, prefix, deleted });
  }
}

async function recordPurged(deps: PurgeDeps, basis: ConsentEvent, details: Record<string, unknown>): Promise<void> {
  let latest: ConsentEvent | undefined = basis;
  for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS && latest !== undefined; attempt += 1) {
    if (latest.state.status === 'purged') return;
    const at = (deps.now?.() ?? new Date()).toISOString();
    const state: ConsentState = { ...latest.state, status: 'purged', scopes: [], sequence: latest.sequence + 1, updatedAt: at };
    const event: ConsentEvent = { employeeId: basis.employeeId, sequence: state.sequence, kind: 'purged', at, actor: { kind: 'service', name: 'purge-worker' }, state, details };
    try {
      await deps.ledger.append(event);
      await deps.ledger.writeState(state);
      return;
    } catch (error) {
      if (!(error instanceof SequenceTakenError)) throw error;
      latest = await deps.ledger.latestEvent(basis.employeeId);
    }
  }
  throw new Error(`could not record the purge of ${basis.employeeId} after ${MAX_APPEND_ATTEMPTS} attempts`);
}
