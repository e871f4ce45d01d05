// Crypto-shreds one employee, then deletes their objects. Every step is idempotent, so a purge
// killed anywhere finishes when the job is delivered again:
//   1. (done by the key steward, when the erasure is recorded) the erasure tag and the shredded key policy;
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
import type { Alarms } from '../shared/alarm-metrics.js';
import { isAwsError } from '../shared/errors.js';
import type { Ledger } from '../shared/ledger.js';
import { appendOnTop } from '../shared/append-on-top.js';

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
  readonly alarms: Alarms;
  readonly now?: () => Date;
}

export type PurgeOutcome = 'purged' | 'swept-once' | 'already-purged' | 'not-purging' | 'no-record';

export type { PurgeJob };

export async function purgeEmployee(deps: PurgeDeps, job: PurgeJob): Promise<PurgeOutcome> {
  const { employeeId } = job;
  const intent = await erasureIntent(deps, job);
  if (typeof intent === 'string') return intent;
  const deletionDate = intent.state.keyArn === undefined ? undefined : await shredKey(deps, intent.state.keyArn);
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
  await recordPurged(deps, intent, details);
  deps.logger.info('employee purged', { employeeId, captures, exports, keyDeletionDate: deletionDate });
  return 'purged';
}

/**
 * The erasure this job carries out. An erasure must never be blocked: an invalid event written
 * above it is alarmed and passed over, and the job's own event (its sequence), once it reads as a
 * valid erasure, stands whatever was written after it.
 */
async function erasureIntent(deps: PurgeDeps, job: PurgeJob): Promise<ConsentEvent | 'no-record' | 'already-purged' | 'not-purging'> {
  const head = await deps.ledger.head(job.employeeId);
  if (head.sequence === 0) return 'no-record';
  if (head.invalid !== undefined) {
    deps.alarms.raise('LedgerEventInvalid');
    deps.logger.error('invalid newest ledger event; not applied, the purge goes on from the erasure', { employeeId: job.employeeId, sequence: head.invalid.sequence, issues: head.invalid.issues });
  }
  const newest = head.newestValid;
  if (newest?.state.status === 'purged') return 'already-purged';
  if (head.invalid === undefined && newest?.state.status === 'purging') return newest;
  const asked = await deps.ledger.eventAt(job.employeeId, job.sequence);
  if (asked?.valid === true && asked.event.state.status === 'purging') {
    if (newest !== undefined && newest.sequence > asked.event.sequence && newest.state.status !== 'purging') {
      deps.alarms.raise('LedgerEventInvalid');
      deps.logger.error('a ledger event after an erasure reopens consent; not applied, the purge goes on', { employeeId: job.employeeId, sequence: newest.sequence, kind: newest.kind });
    }
    return asked.event;
  }
  if (newest?.state.status === 'purging') return newest;
  deps.logger.warn('purge job for an employee who is not being purged; dropping it', { employeeId: job.employeeId, status: newest?.state.status });
  return 'not-purging';
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

/** Appends `purged` on top of the newest sequence (valid or not), from the erasure's state. */
async function recordPurged(deps: PurgeDeps, erasure: ConsentEvent, details: Record<string, unknown>): Promise<void> {
  await appendOnTop(deps.ledger, erasure.employeeId, (head) => {
    if (head.invalid === undefined && head.newestValid?.state.status === 'purged') return undefined;
    const at = (deps.now?.() ?? new Date()).toISOString();
    const sequence = head.sequence + 1;
    const state: ConsentState = { ...erasure.state, status: 'purged', scopes: [], sequence, updatedAt: at };
    return { employeeId: erasure.employeeId, sequence, kind: 'purged', at, actor: { kind: 'service', name: 'purge-worker' }, state, details };
  });
}
