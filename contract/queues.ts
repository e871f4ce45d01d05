// The job queues: who may send to each, which function consumes it, its dead-letter queue and the
// schema of its jobs.
import type * as z from 'zod';
import { keySyncJobSchema, purgeQueueJobSchema } from './jobs.js';
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
  /** Days a job (and a dead-lettered job) is kept. */
  readonly retentionDays: number;
  /**
   * The visibility timeout is this many times the consumer's timeout: AWS's guidance for SQS event
   * sources is at least six, so a message is not redelivered while an invocation may still hold it.
   */
  readonly visibilityTimeoutFactor: number;
  readonly schema: z.ZodType;
}

export const QUEUES = {
  purge: {
    constructId: 'PurgeQueue',
    jobs: 'purge and revoke-sweep jobs',
    // The purge worker queues its own delayed second sweep; the consent function queues purges
    // and, delayed, the sweep after a withdrawal.
    senders: ['consent', 'purge'],
    maxReceiveCount: 5,
    retentionDays: 14,
    visibilityTimeoutFactor: 6,
    schema: purgeQueueJobSchema,
  },
  keySync: {
    constructId: 'KeySyncQueue',
    jobs: 'key-policy sync jobs',
    // The consent function queues a key write that KMS throttled; key-sync (the steward role)
    // never re-queues: a failed job returns to the queue by itself.
    senders: ['consent'],
    maxReceiveCount: 5,
    retentionDays: 14,
    visibilityTimeoutFactor: 6,
    schema: keySyncJobSchema,
  },
} as const satisfies Record<string, QueueDeclaration>;

export type QueueName = keyof typeof QUEUES;
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];
