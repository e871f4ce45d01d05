// The job queues: who may send to each, which function consumes it, its dead-letter queue and the
// schema of its jobs.
import type * as z from 'zod';
import { datasetJobSchema } from './datasets.js';
import { keySyncQueueJobSchema } from './export-expiry.js';
import { exportJobSchema, purgeQueueJobSchema } from './jobs.js';
import { keyPolicyWriteEventSchema } from './key-policy-events.js';
import type { RoleName } from './roles.js';

export interface QueueDeclaration {
  /** The construct id of the JobQueue in the CDK app (a contract: renaming it replaces the queue). */
  readonly constructId: string;
  /** What the jobs are, for people: `purge jobs`. */
  readonly jobs: string;
  /** Roles that may send jobs (SendMessage, GetQueueUrl, GetQueueAttributes). */
  readonly senders: readonly RoleName[];
  /** Receives before a job moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /**
   * Days a job is kept in the queue. SQS counts a dead-lettered job's retention from its ORIGINAL
   * enqueue time, so this must be shorter than the dead-letter queue's (always SQS's maximum,
   * 14 days): a job that fails for days still spends a week in the DLQ, where an alarm sees it.
   */
  readonly retentionDays: number;
  /** The oldest job may wait this long before the queue's age alarm fires. */
  readonly maxAgeSeconds: number;
  /**
   * The visibility timeout is this many times the consumer's timeout: AWS's guidance for SQS event
   * sources is at least six, so a message is not redelivered while an invocation may still hold it.
   */
  readonly visibilityTimeoutFactor: number;
  readonly schema: z.core.$ZodType;
}

export const QUEUES = {
  purge: {
    constructId: 'PurgeQueue',
    jobs: 'purge and revoke-sweep jobs',
    // The purge worker queues its own delayed second sweep; the consent function queues purges
    // and, delayed, the sweep after a withdrawal.
    senders: ['consent', 'purge'],
    maxReceiveCount: 5,
    retentionDays: 7,
    // A purge takes minutes, its re-sweep waits 6; an hour means the worker is failing or starved.
    maxAgeSeconds: 3600,
    visibilityTimeoutFactor: 6,
    schema: purgeQueueJobSchema,
  },
  keySync: {
    constructId: 'KeySyncQueue',
    jobs: 'key-policy sync jobs',
    // The consent function queues a key write that KMS throttled; key-sync (the steward role)
    // queues a job again, with a delay, when KMS keeps throttling it (a failed job otherwise
    // returns to the queue by itself), so a storm never spends the job's maxReceiveCount.
    senders: ['consent', 'steward', 'policy-watch'],
    maxReceiveCount: 5,
    retentionDays: 7,
    // 100,000 policies at PutKeyPolicy's 15/s take under two hours; a job older than 15 minutes
    // outside such a re-sync means a pause or withdrawal is not yet in its key.
    maxAgeSeconds: 900,
    visibilityTimeoutFactor: 6,
    // Also the hourly export sweep, which EventBridge Scheduler queues (contract/export-expiry.ts).
    schema: keySyncQueueJobSchema,
  },
  export: {
    constructId: 'ExportQueue',
    jobs: 'export jobs',
    senders: ['consent'],
    // An export rereads everything from the start, so a few attempts are plenty; the last one
    // marks the job failed and retires its grant before the message would go to the DLQ.
    maxReceiveCount: 3,
    // Export files live a day; a job older than that is worth nothing to the employee.
    retentionDays: 1,
    // An export takes minutes; an hour means failed attempts (each waits out a visibility timeout) or a starved worker.
    maxAgeSeconds: 3600,
    visibilityTimeoutFactor: 6,
    schema: exportJobSchema,
  },
  datasets: {
    constructId: 'DatasetsQueue',
    jobs: 'dataset build and sweep jobs',
    // The consent function queues builds; the sweeper's schedule (EventBridge Scheduler, not a
    // role of the contract) queues sweeps.
    senders: ['consent'],
    // A build starts over (the manifest is rewritten whole, grants are idempotent by name).
    maxReceiveCount: 3,
    retentionDays: 1,
    maxAgeSeconds: 3600,
    visibilityTimeoutFactor: 6,
    schema: datasetJobSchema,
  },
  policyWatch: {
    constructId: 'PolicyWatchQueue',
    jobs: 'CloudTrail PutKeyPolicy events',
    // No role sends here: an EventBridge rule on CloudTrail's PutKeyPolicy events does (the
    // queue's policy admits that rule only); locally, the trail dispatcher plays that rule.
    senders: [],
    maxReceiveCount: 5,
    retentionDays: 4,
    // A check takes well under a second; a PutKeyPolicy left unchecked for 15 minutes means a
    // drifted key may stay drifted that long.
    maxAgeSeconds: 900,
    visibilityTimeoutFactor: 6,
    schema: keyPolicyWriteEventSchema,
  },
} as const satisfies Record<string, QueueDeclaration>;

export type QueueName = keyof typeof QUEUES;

/** Dead-letter queues keep a job SQS's maximum, 14 days from its original enqueue. */
export const DEAD_LETTER_RETENTION_DAYS = 14;
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];
