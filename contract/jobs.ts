// The messages the job queues carry. The producer (the consent function, or the purge worker
// re-queueing itself) and the consumer parse and build them with the same schema.
import * as z from 'zod';
import { ID_PATTERN } from './vocabulary.js';

const employeeId = z.string().regex(ID_PATTERN);
/** The ledger sequence of the event that asked for the job. */
const sequence = z.number().int().nonnegative();
const count = z.number().int().nonnegative();

/**
 * Erase one employee. The first sweep (`sweep` absent or 1) shreds the key and deletes the
 * objects; it queues a second sweep (`sweep: 2`, carrying the first's counts) after a delay to
 * catch objects an in-flight ingest wrote after the erase.
 */
export const purgeJobSchema = z
  .object({
    employeeId,
    sequence,
    sweep: z.union([z.literal(1), z.literal(2)]).optional(),
    deleted: z.object({ captures: count, exports: count }).optional(),
  });
export type PurgeJob = z.infer<typeof purgeJobSchema>;

/** Make the employee's key policy match the newest ledger event (queued when KMS throttled a write). */
export const keySyncJobSchema = z.object({ employeeId, sequence });
export type KeySyncJob = z.infer<typeof keySyncJobSchema>;
