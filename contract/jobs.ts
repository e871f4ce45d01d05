// The messages the job queues carry. The producer (the consent function, or the purge worker
// re-queueing itself) and the consumer parse and build them with the same schema.
import * as z from './zod.js';
import { ID_PATTERN } from './vocabulary.js';

const employeeId = z.string().check(z.regex(ID_PATTERN));
/** The ledger sequence of the event that asked for the job. */
const sequence = z.number().check(z.int(), z.gte(0));
const count = z.number().check(z.int(), z.gte(0));

/**
 * Erase one employee. The first sweep (`sweep` absent or 1) shreds the key and deletes the
 * objects; it queues a second sweep (`sweep: 2`, carrying the first's counts) after a delay to
 * catch objects an in-flight ingest wrote after the erase.
 */
export const purgeJobSchema = z.object({
  // Absent on jobs queued before the purge queue carried two kinds: they are purges. A job of
  // another kind never parses as a purge.
  kind: z.optional(z.literal('purge')),
  employeeId,
  /** The sequence of the erasure event (erase-requested or offboarded) that asked for the purge. */
  sequence,
  sweep: z.optional(z.union([z.literal(1), z.literal(2)])),
  deleted: z.optional(z.object({ captures: count, exports: count })),
});
export type PurgeJob = z.infer<typeof purgeJobSchema>;

/**
 * After a withdrawal without erasure, delete the objects written from the withdrawal's instant
 * until the next grant, if any: an ingest that passed its consent check just before the
 * withdrawal may still land a batch. Queued with the purge's re-sweep delay. The job names the
 * `revoked` event only; the instants are read from the ledger, never taken from the message.
 */
export const revokeSweepJobSchema = z.object({
  kind: z.literal('revoke-sweep'),
  employeeId,
  /** The sequence of the `revoked` event. */
  sequence,
});
export type RevokeSweepJob = z.infer<typeof revokeSweepJobSchema>;

/** What the purge queue carries; its worker runs as the purge role, the only one that may delete captures. */
export const purgeQueueJobSchema = z.union([revokeSweepJobSchema, purgeJobSchema]);
export type PurgeQueueJob = z.infer<typeof purgeQueueJobSchema>;

/**
 * Make the employee's key policy match the newest ledger event (queued when KMS throttled a
 * write). `deferrals` counts how often the worker queued the job again because KMS kept
 * throttling: a fresh message, so a throttling storm never spends the queue's maxReceiveCount.
 */
export const keySyncJobSchema = z.object({ employeeId, sequence, deferrals: z.optional(count) });
export type KeySyncJob = z.infer<typeof keySyncJobSchema>;

/**
 * Export one employee's captures. The consent function minted a Decrypt grant for this export
 * alone: its token makes it usable at once (KMS grants are eventually consistent), and the worker
 * retires it by id when the job ends, whether the export succeeded or failed.
 */
export const exportJobSchema = z.strictObject({
  employeeId,
  exportId: z.string().check(z.regex(ID_PATTERN)),
  /** The employee key the objects are encrypted under, from the ledger when the export was asked for. */
  keyArn: z.string().check(z.regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/)),
  grantId: z.string().check(z.minLength(1), z.maxLength(128)),
  grantToken: z.string().check(z.minLength(1), z.maxLength(8192)),
});
export type ExportJob = z.infer<typeof exportJobSchema>;
